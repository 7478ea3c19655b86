package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestAfterNamesEarlierPlays(t *testing.T) {
	pb, _, err := loadTagSite(t, `
play "a" { hosts = "all"  roles = ["r"] }
play "b" { hosts = "all"  roles = ["r"]  after = [] }
play "c" { hosts = "all"  roles = ["r"]  after = ["a", "b"] }
`, `task "command" "x" { command = "true" }`)
	if err != nil {
		t.Fatal(err)
	}
	if pb.Plays[0].After != nil {
		t.Errorf("a: after = %v, want unset (nil)", pb.Plays[0].After)
	}
	if pb.Plays[1].After == nil || len(pb.Plays[1].After) != 0 {
		t.Errorf("b: after = %#v, want set and empty", pb.Plays[1].After)
	}
	if !reflect.DeepEqual(pb.Plays[2].After, []string{"a", "b"}) {
		t.Errorf("c: after = %v", pb.Plays[2].After)
	}

	for _, c := range []struct{ name, playbook, want string }{
		{"a later play", `play "a" { hosts = "all"  roles = ["r"]  after = ["b"] }
play "b" { hosts = "all"  roles = ["r"] }`, `Play "a" runs after "b", which is not a play declared before it`},
		{"no such play", `play "a" { hosts = "all"  roles = ["r"]  after = ["nope"] }`, `runs after "nope"`},
		{"itself", `play "a" { hosts = "all"  roles = ["r"]  after = ["a"] }`, `cannot run after itself`},
		{"twice", `play "a" { hosts = "all"  roles = ["r"] }
play "b" { hosts = "all"  roles = ["r"]  after = ["a", "a"] }`, `names "a" twice`},
		{"not a list", `play "a" { hosts = "all"  roles = ["r"] }
play "b" { hosts = "all"  roles = ["r"]  after = 3 }`, `after must be a list of the names of earlier plays`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := loadTagSite(t, c.playbook, `task "command" "x" { command = "true" }`)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
			if err != nil && !strings.Contains(err.Error(), "site.hcl:") {
				t.Errorf("error %v does not name the file and line", err)
			}
		})
	}
}
