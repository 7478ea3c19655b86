package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
)

// tagsFixture: on host a, two plays; each task creates DIR/<task name>.
func tagsFixture(t *testing.T) *fixture {
	t.Helper()
	roles := map[string]string{
		"r": `
task "touch" "cert" {
  path   = "DIR/cert"
  tags   = ["tls"]
  notify = ["reload"]
}
task "touch" "conf" {
  path = "DIR/conf"
  tags = ["config"]
}
task "touch" "plain" { path = "DIR/plain" }
handler "touch" "reload" { path = "DIR/reload" }
`,
		"s": `task "touch" "other" { path = "DIR/other" }`,
	}
	f := newPlaysFixture(t, roles, `
play "web" {
  hosts = "a"
  roles = [{ name = "r", tags = ["web"] }]
}
play "more" {
  hosts = "a"
  roles = ["s"]
  tags  = ["more"]
}
`, "")
	f.eng.Hosts = f.eng.Inventory.Hosts[:1]
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func created(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(dir, "DIR"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// --tags and --skip-tags choose the tasks a plan lists and an apply runs;
// the handler a chosen task notifies runs.
func TestTagsSelectTasks(t *testing.T) {
	cases := []struct {
		name string
		tags config.TagFilter
		want []string
	}{
		{"no filter", config.TagFilter{}, []string{"cert", "conf", "other", "plain", "reload"}},
		{"a task's tag, and its handler", config.TagFilter{Only: []string{"tls"}}, []string{"cert", "reload"}},
		{"a role's tag in its play", config.TagFilter{Only: []string{"web"}}, []string{"cert", "conf", "plain", "reload"}},
		{"a play's tag", config.TagFilter{Only: []string{"more", "config"}}, []string{"conf", "other"}},
		{"skip wins", config.TagFilter{Only: []string{"web"}, Skip: []string{"tls"}}, []string{"conf", "plain"}},
		{"skip alone", config.TagFilter{Skip: []string{"more", "config"}}, []string{"cert", "plain", "reload"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := tagsFixture(t)
			f.eng.Tags = c.tags
			p := f.eng.Plan(context.Background())
			var planned []string
			for _, ch := range p.Hosts[0].Changes {
				planned = append(planned, filepath.Base(ch.Summary))
			}
			sort.Strings(planned)
			if p.Failed() || !slices.Equal(planned, c.want) {
				t.Errorf("plan lists %v, want %v (%+v)", planned, c.want, p.Hosts[0])
			}
			if p.Hosts[0].Tasks != len(c.want) {
				t.Errorf("plan checked %d tasks, want %d", p.Hosts[0].Tasks, len(c.want))
			}
			p = f.eng.Apply(context.Background(), f.ch)
			if got := created(t, f.dir); p.Failed() || !slices.Equal(got, c.want) {
				t.Errorf("apply made %v, want %v (%+v)", got, c.want, p.Hosts[0])
			}
		})
	}
}

// A task with for_each that --tags leaves out keeps its instances
// managed: the run neither lists them as no longer managed nor forgets
// them.
func TestTagsKeepTheInstancesOfTasksLeftOut(t *testing.T) {
	f := newFixture(t, `
task "touch" "each" {
  for_each = toset(["x", "y"])
  path     = "DIR/${each.key}"
  tags     = ["many"]
}
task "touch" "one" {
  path = "DIR/one"
  tags = ["single"]
}
`, "")
	f.eng.Hosts = f.eng.Inventory.Hosts[:1]
	f.eng.InstancesDir = filepath.Join(f.dir, ".skiff", "instances")
	t.Chdir(f.dir)
	os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755)
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || len(p.Hosts[0].Changes) != 3 {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	os.Remove(filepath.Join(f.dir, "DIR", "one"))
	f.eng.Tags = config.TagFilter{Only: []string{"single"}}
	for _, run := range []string{"plan", "apply"} {
		p := f.eng.Plan(context.Background())
		if run == "apply" {
			p = f.eng.Apply(context.Background(), f.ch)
		}
		if got := changesOf(p.Hosts[0]); p.Failed() || len(got) != 1 || !strings.Contains(got[0], "touch.one") {
			t.Errorf("%s --tags single: %q", run, got)
		}
	}
	f.eng.Tags = config.TagFilter{}
	if p := f.eng.Plan(context.Background()); p.HasChanges() {
		t.Errorf("plan of every task after: %q", changesOf(p.Hosts[0]))
	}
	os.Remove(filepath.Join(f.dir, "DIR", "x"))
	if p := f.eng.Plan(context.Background()); len(p.Hosts[0].Changes) != 1 || p.Hosts[0].Changes[0].Task != `touch.each["x"]` {
		t.Errorf("the instances are no longer managed: %q", changesOf(p.Hosts[0]))
	}
}
