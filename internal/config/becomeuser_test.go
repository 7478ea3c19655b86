package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// A play's become_user is a literal user name; a task's is an expression
// kept for each host, out of the kind's arguments.
func TestBecomeUser(t *testing.T) {
	pb, _, err := loadTagSite(t, `play "db" {
  hosts       = "all"
  roles       = ["r"]
  become_user = "postgres"
}`, `task "command" "x" {
  command     = "true"
  become_user = var.owner
}`)
	if err != nil {
		t.Fatal(err)
	}
	if pb.Plays[0].BecomeUser != "postgres" {
		t.Errorf("play become_user %q", pb.Plays[0].BecomeUser)
	}
	task := pb.Roles["r"].Tasks[0]
	if _, ok := task.Attrs["become_user"]; ok || task.BecomeUser == nil {
		t.Errorf("the task's become_user is not kept apart: %v", task.Attrs)
	}
	if u := pb.Roles["r"].VarUse(); !u.Names["owner"] {
		t.Errorf("var.owner in become_user is not counted as read: %v", u.Names)
	}

	for _, bad := range []string{`"a b"`, `"-u"`, `""`, `"x;id"`, `3`, `var.u`} {
		_, dir, err := loadTagSite(t, "play \"db\" {\n  hosts = \"all\"\n  roles = [\"r\"]\n  become_user = "+bad+"\n}\n", `task "command" "x" { command = "true" }`)
		at := filepath.Join(dir, "playbooks", "site.hcl") + ":4,"
		if err == nil || !strings.Contains(err.Error(), at) || !strings.Contains(err.Error(), "become_user") {
			t.Errorf("become_user = %s: %v, want an error at %s", bad, err, at)
		}
	}
}
