package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// changesOf lists a host's changes as "ACTION TASK: SUMMARY".
func changesOf(h *plan.Host) []string {
	var out []string
	for _, c := range h.Changes {
		out = append(out, string(c.Action)+" "+c.Task+": "+c.Summary)
	}
	return out
}

func hostNamed(p *plan.Plan, name string) *plan.Host {
	for _, h := range p.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// reloadRole replaces role r of f's playbook by src, as an edit between runs.
func reloadRole(t *testing.T, f *fixture, src string) {
	t.Helper()
	write(t, f.dir, "roles/r/role.hcl", src)
	book, diags := config.NewLoader().LoadPlaybook(filepath.Join(f.dir, "playbooks/p.hcl"), nil, map[string]bool{"touch": true, "rtouch": true, "vtouch": true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	f.eng.Playbook = book
}

const forEachRole = `
variable "files" {
  default = { a = "1", b = "2" }
}
task "rtouch" "f" {
  for_each = var.files
  path     = "DIR/${host.name}-${each.key}-${each.value}"
}
task "touch" "s" {
  for_each = toset(["x"])
  path     = "DIR/${host.name}-set-${each.key}-${each.value}"
}
`

// Each instance of a task with for_each is its own change, addressed
// kind.name["key"], in plans, in the journal, and undone by rollback.
func TestForEachInstancesInPlanJournalAndRollback(t *testing.T) {
	f := newFixture(t, forEachRole, "")
	t.Chdir(f.dir)
	os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755)
	f.eng.Hosts = f.eng.Inventory.Hosts[:1]

	p := f.eng.Plan(context.Background())
	want := []string{
		`create rtouch.f["a"]: touch DIR/a-a-1`,
		`create rtouch.f["b"]: touch DIR/a-b-2`,
		`create touch.s["x"]: touch DIR/a-set-x-x`,
	}
	if got := changesOf(hostNamed(p, "a")); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var js bytes.Buffer
	if err := plan.WriteJSON(&js, p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"task": "rtouch.f[\"a\"]"`) {
		t.Errorf("JSON does not address the instance: %s", js.String())
	}

	w, err := journal.Create(filepath.Join(f.dir, "runs"), journal.Run{ID: "each", Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f.ch.Journal, f.eng.RunID = w, "each"
	f.eng.HostRuns = filepath.Join(f.dir, "host-runs")
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	j, err := journal.Read(filepath.Join(f.dir, "runs"), "each")
	if err != nil {
		t.Fatal(err)
	}
	var tasks []string
	for _, e := range j.Entries {
		tasks = append(tasks, e.Task)
	}
	if got := strings.Join(tasks, " "); got != `rtouch.f["a"] rtouch.f["b"] touch.s["x"]` {
		t.Errorf("journal tasks: %s", got)
	}
	if p := f.eng.Plan(context.Background()); p.HasChanges() {
		t.Errorf("second plan: %v", changesOf(p.Hosts[0]))
	}

	// Each reversible instance says how a rollback undoes it.
	var undo []string
	for _, e := range j.Pending("a") {
		if e.Reversible() {
			undo = append(undo, e.Task+" "+e.Undo)
		}
	}
	if got := strings.Join(undo, "; "); got != `rtouch.f["b"] rm -f "DIR/a-b-2"; rtouch.f["a"] rm -f "DIR/a-a-1"` {
		t.Errorf("undo: %s", got)
	}
}

// An instance that leaves its for_each is listed as no longer managed,
// and left on the host; once applied, the plan is clean. A task that
// is gone takes its instances with it.
func TestForEachInstanceRemovedIsNoLongerManaged(t *testing.T) {
	f := newFixture(t, forEachRole, "")
	t.Chdir(f.dir)
	os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755)
	f.eng.Hosts = f.eng.Inventory.Hosts[:1]
	f.eng.InstancesDir = filepath.Join(f.dir, ".skiff", "instances")
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || !p.HasChanges() {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}

	reloadRole(t, f, strings.Replace(strings.Replace(forEachRole, `b = "2"`, "", 1), `task "touch" "s"`, `task "touch" "t"`, 1))
	p := f.eng.Plan(context.Background())
	// touch.t["x"] finds its file in place: renaming a task changes no host.
	want := []string{
		`forget rtouch.f["b"]: no longer managed: left on the host as it is`,
		`forget touch.s["x"]: no longer managed: left on the host as it is`,
	}
	h := hostNamed(p, "a")
	if got := changesOf(h); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var text bytes.Buffer
	plan.WriteText(&text, p)
	if !strings.Contains(text.String(), `  . p/r rtouch.f["b"]: no longer managed: left on the host as it is`) {
		t.Errorf("text:\n%s", text.String())
	}
	var js bytes.Buffer
	if err := plan.WriteJSON(&js, p); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Hosts []struct {
			Changes []struct{ Task, Action string }
		}
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if c := doc.Hosts[0].Changes[0]; c.Task != `rtouch.f["b"]` || c.Action != "forget" {
		t.Errorf("JSON change: %+v", c)
	}
	// A plan changes nothing: asked again, it says the same.
	if again := f.eng.Plan(context.Background()); len(hostNamed(again, "a").Changes) != 2 {
		t.Errorf("a second plan: %v", changesOf(hostNamed(again, "a")))
	}

	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	if _, err := os.Stat(filepath.Join(f.dir, "DIR", "a-b-2")); err != nil {
		t.Errorf("the instance no longer managed was touched: %v", err)
	}
	if p := f.eng.Plan(context.Background()); p.HasChanges() {
		t.Errorf("plan after the apply: %v", changesOf(hostNamed(p, "a")))
	}
}

// notify may name one instance of a handler with for_each, also from
// each.key; a plain name notifies all its instances. if_changed may name
// one instance of a task.
func TestForEachNotifyAndIfChangedNameInstances(t *testing.T) {
	eng, logPath := handlerFixture(t, `
task "log" "t" {
  for_each = toset(["x", "y"])
  when     = each.key == "x"
  line     = "t-${each.key}"
  notify   = ["h[\"${each.key}\"]"]
}
task "log" "u" {
  line   = "u"
  notify = ["g"]
}
handler "log" "h" {
  for_each = toset(["x", "y"])
  line     = "h-${each.key}"
}
handler "log" "g" {
  for_each = toset(["1", "2"])
  line     = "g-${each.key}"
}
`)
	p := eng.Apply(context.Background(), Changes{})
	if p.Failed() {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	if got := ran(t, logPath); got != "t-x u h-x g-1 g-2" {
		t.Errorf("ran %q, want t-x u h-x g-1 g-2", got)
	}
	if got := handlersIn(p.Hosts[0]); got != `h["x"] g["1"] g["2"]` {
		t.Errorf("handlers in the result: %s", got)
	}

	f := newFixture(t, `
task "touch" "f" {
  for_each = toset(["a", "b"])
  path     = "DIR/${host.name}-${each.key}"
}
task "touch" "after_a" {
  path       = "DIR/after"
  if_changed = ["touch.f[\"a\"]"]
}
task "touch" "after_b" {
  path       = "DIR/after"
  if_changed = ["r/touch.f[\"b\"]"]
}
`, "")
	t.Chdir(f.dir)
	os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755)
	write(t, f.dir, "DIR/a-a", "")
	write(t, f.dir, "DIR/after", "")
	f.eng.Hosts = f.eng.Inventory.Hosts[:1]
	got := changesOf(hostNamed(f.eng.Plan(context.Background()), "a"))
	want := []string{`create touch.f["b"]: touch DIR/a-b`, `run touch.after_b: touch.after_b (r/touch.f["b"] changes)`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// validate reports a for_each of the wrong type where it is written.
func TestValidateForEachType(t *testing.T) {
	f := newFixture(t, `
variable "files" { default = "motd" }
task "touch" "f" {
  for_each = var.files
  path     = "DIR/${each.key}"
}
`, "")
	diags := f.eng.Validate()
	if len(diags) != 1 || diags[0].Summary != "Invalid for_each" || diags[0].Subject.Start.Line != 4 ||
		!strings.Contains(diags[0].Detail, "not a string") {
		t.Fatalf("diags: %v", diags)
	}
}

// A run whose tasks have no for_each keeps no file of instances.
func TestNoInstancesFileWithoutForEach(t *testing.T) {
	f := newFixture(t, `task "touch" "one" { path = "DIR/${host.name}" }`, "")
	t.Chdir(f.dir)
	os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755)
	f.eng.InstancesDir = filepath.Join(f.dir, ".skiff", "instances")
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || !p.HasChanges() {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	if _, err := os.Stat(f.eng.InstancesDir); !os.IsNotExist(err) {
		t.Errorf("%s: %v", f.eng.InstancesDir, err)
	}
}

// A play that fails forgets nothing: an instance it no longer declares is
// still listed by the next run that succeeds.
func TestForEachFailedPlayForgetsNothing(t *testing.T) {
	f := newFixture(t, forEachRole, "")
	t.Chdir(f.dir)
	os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755)
	f.eng.Hosts = f.eng.Inventory.Hosts[:1]
	f.eng.InstancesDir = filepath.Join(f.dir, ".skiff", "instances")
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	withoutB := strings.Replace(forEachRole, `b = "2"`, "", 1)
	reloadRole(t, f, withoutB+`task "touch" "boom" {
  path = "DIR/boom"
  fail = true
}
`)
	if p := f.eng.Apply(context.Background(), f.ch); !p.Failed() {
		t.Fatalf("apply did not fail: %+v", p.Hosts[0])
	}
	reloadRole(t, f, withoutB)
	got := changesOf(hostNamed(f.eng.Plan(context.Background()), "a"))
	if want := `forget rtouch.f["b"]: no longer managed: left on the host as it is`; strings.Join(got, "\n") != want {
		t.Errorf("plan: %v, want %s", got, want)
	}
}

// A notify naming an instance its handler does not have on the host fails
// the host, naming both.
func TestNotifyOfAMissingHandlerInstance(t *testing.T) {
	eng, logPath := handlerFixture(t, `
task "log" "t" {
  line   = "t"
  notify = ["h[\"z\"]"]
}
handler "log" "h" {
  for_each = toset(["x"])
  line     = "h-${each.key}"
}
`)
	p := eng.Apply(context.Background(), Changes{})
	if h := p.Hosts[0]; !p.Failed() || !strings.Contains(h.Error, `a task notifies h["z"], but handler h has no instance "z" on a`) {
		t.Fatalf("apply: %s: %s", h.Status, h.Error)
	}
	if got := ran(t, logPath); got != "t" {
		t.Errorf("ran %q", got)
	}
}
