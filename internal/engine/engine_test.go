package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// touch is a test module: the file at path exists. fail=true makes Apply fail.
type touch struct {
	path string
	fail bool
}

func (m *touch) Probe() string { return fmt.Sprintf("test -e %q && echo present", m.path) }
func (m *touch) Check(p module.Probed) (*module.Change, error) {
	if strings.TrimSpace(string(p.Stdout)) == "present" {
		return nil, nil
	}
	return &module.Change{Action: plan.Create, Summary: "touch " + m.path}, nil
}
func (m *touch) Apply(ctx context.Context, t transport.Transport) error {
	if m.fail {
		return errors.New("boom")
	}
	res, err := t.Run(ctx, fmt.Sprintf("echo >> %q", m.path))
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d", res.ExitCode)
	}
	return err
}

func registry() module.Registry {
	return module.Registry{
		"touch": func(a *module.Args) module.Module {
			return &touch{path: a.String("path", true), fail: a.Bool("fail", false)}
		},
		"vtouch": func(a *module.Args) module.Module {
			return &volatileTouch{touch{path: a.String("path", true)}}
		},
		"rtouch": func(a *module.Args) module.Module {
			return &reversibleTouch{touch{path: a.String("path", true), fail: a.Bool("fail", false)}}
		},
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type fixture struct {
	eng   *Engine
	ch    Changes // what the fixture's applies hold
	dir   string
	conns map[string]*transporttest.Local
}

func newFixture(t *testing.T, roleSrc string, unreachable string) *fixture {
	t.Helper()
	return newPlaysFixture(t, map[string]string{"r": roleSrc}, `play "p" { hosts = "all"  roles = ["r"] }`, unreachable)
}

// newPlaysFixture: hosts a, b and c; roles by name; the playbook's text.
func newPlaysFixture(t *testing.T, roles map[string]string, playbook, unreachable string) *fixture {
	t.Helper()
	dir := t.TempDir()
	invPath := write(t, dir, "inv.hcl", `
host "a" { address = "10.0.0.1" }
host "b" { address = "10.0.0.2" }
host "c" { address = "10.0.0.3" }
`)
	for name, src := range roles {
		write(t, dir, "roles/"+name+"/role.hcl", src)
	}
	pbPath := write(t, dir, "playbooks/p.hcl", playbook)
	l := config.NewLoader()
	invCfg, diags := l.LoadInventory(invPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	inv := inventory.New(invCfg)
	book, diags := l.LoadPlaybook(pbPath, nil, map[string]bool{"touch": true, "rtouch": true, "vtouch": true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	f := &fixture{dir: dir, conns: map[string]*transporttest.Local{}}
	for _, h := range inv.Hosts {
		f.conns[h.Name] = &transporttest.Local{}
	}
	f.eng = &Engine{
		Inventory: inv, Playbook: book, Registry: registry(),
		Scope: NewScope(inv, nil, nil, nil), RunID: "test",
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
			if h.Name == unreachable {
				return nil, &transport.UnreachableError{Host: h.Name, Err: errors.New("connection refused")}
			}
			return f.conns[h.Name], nil
		},
	}
	return f
}

func TestPlanReadsOnlyAndApplyConverges(t *testing.T) {
	role := `
task "touch" "one" {
  path   = "DIR/${host.name}-1"
  notify = ["h"]
}
task "touch" "two" { path = "DIR/${host.name}-2" }
handler "touch" "h" { path = "DIR/${host.name}-handled" }
`
	f := newFixture(t, role, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}

	p := f.eng.Plan(context.Background())
	if p.Summary.Changed != 3 || p.Failed() {
		t.Fatalf("plan summary = %+v, want 3 changed", p.Summary)
	}
	if n := len(p.Hosts[0].Changes); n != 3 { // two tasks and the notified handler
		t.Fatalf("plan changes on a = %d, want 3: %+v", n, p.Hosts[0].Changes)
	}
	if entries, _ := os.ReadDir(filepath.Join(f.dir, "DIR")); len(entries) != 0 {
		t.Fatalf("plan changed the host: %d files created", len(entries))
	}
	// Plan: facts + one batched probe for the tasks + one for the handler.
	if got := f.conns["a"].Runs(); got != 3 {
		t.Errorf("plan made %d round trips on a host, want 3", got)
	}

	f.eng.RunID = "apply1"
	p = f.eng.Apply(context.Background(), f.ch)
	if p.Summary.Changed != 3 || p.Failed() {
		t.Fatalf("apply summary = %+v", p.Summary)
	}
	for _, n := range []string{"a-1", "a-2", "a-handled", "c-2"} {
		if _, err := os.Stat(filepath.Join(f.dir, "DIR", n)); err != nil {
			t.Errorf("apply did not create %s", n)
		}
	}

	for _, c := range f.conns {
		c.Reset()
	}
	p = f.eng.Apply(context.Background(), f.ch)
	if p.Summary.Changed != 0 || p.Summary.OK != 3 {
		t.Fatalf("second apply summary = %+v, want all ok", p.Summary)
	}
	// No-op: facts plus one probe round trip per host.
	if got := f.conns["b"].Runs(); got != 2 {
		t.Errorf("no-op apply made %d round trips, want 2", got)
	}
}

func TestFailingAndUnreachableHosts(t *testing.T) {
	role := `
task "touch" "one" {
  path = "DIR/${host.name}-1"
  fail = host.name == "b"
}
task "touch" "two" { path = "DIR/${host.name}-2" }
`
	f := newFixture(t, role, "c")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := f.eng.Apply(context.Background(), f.ch)
	st := map[string]plan.Status{}
	for _, h := range p.Hosts {
		st[h.Name] = h.Status
	}
	if st["a"] != "changed" || st["b"] != "failed" || st["c"] != "unreachable" {
		t.Fatalf("statuses = %v", st)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "DIR", "b-2")); err == nil {
		t.Errorf("b went on after its failing task")
	}
	if !strings.Contains(p.Hosts[1].Error, "boom") || !strings.Contains(p.Hosts[1].Error, "touch.one") {
		t.Errorf("b's error %q does not name the task and cause", p.Hosts[1].Error)
	}
	if !p.Failed() {
		t.Errorf("run with failures must report Failed")
	}
}

func TestDelegationAndIfChanged(t *testing.T) {
	role := `
task "touch" "a" { path = "DIR/${host.name}-a" }
task "touch" "gated" {
  path       = "DIR/gated-${host.name}"
  if_changed = ["touch.a"]
}
task "touch" "deleg" {
  delegate_to = "c"
  path        = "DIR/deleg-from-${host.name}"
}
`
	f := newFixture(t, role, "")
	f.eng.Hosts = []*inventory.Host{f.eng.Inventory.Host("a")}
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := f.eng.Plan(context.Background())
	if n := len(p.Hosts[0].Changes); n != 3 {
		t.Fatalf("plan: %d changes, want 3: %+v", n, p.Hosts[0].Changes)
	}
	if s := p.Hosts[0].Changes[2].Summary; !strings.HasPrefix(s, "on c: ") {
		t.Errorf("delegated change summary %q does not name the delegate", s)
	}
	if f.conns["c"].Runs() == 0 {
		t.Errorf("the delegated task was not probed on c")
	}
	before := f.conns["c"].Runs()
	p = f.eng.Apply(context.Background(), f.ch)
	if p.Failed() || len(p.Hosts[0].Changes) != 3 {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	for _, n := range []string{"a-a", "gated-a", "deleg-from-a"} {
		if _, err := os.Stat(filepath.Join(f.dir, "DIR", n)); err != nil {
			t.Errorf("%s missing after apply", n)
		}
	}
	if f.conns["c"].Runs() <= before {
		t.Errorf("the delegated change did not run on c")
	}
	// The gate: "a" is in state, so "gated" does not run, even though its
	// own file is gone.
	os.Remove(filepath.Join(f.dir, "DIR", "gated-a"))
	p = f.eng.Apply(context.Background(), f.ch)
	if len(p.Hosts[0].Changes) != 0 {
		t.Errorf("gated task ran without a change to its reference: %+v", p.Hosts[0].Changes)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "DIR", "gated-a")); err == nil {
		t.Errorf("gated task ran")
	}
}

// A gated task runs whatever its check finds, so it is checked only when
// it runs: a run where its reference is in state never asks its delegate.
func TestGatedTaskCheckedOnlyWhenItRuns(t *testing.T) {
	role := `
task "touch" "a" { path = "DIR/${host.name}-a" }
task "touch" "gated" {
  delegate_to = "c"
  path        = "DIR/gated-from-${host.name}"
  if_changed  = ["touch.a"]
}
`
	f := newFixture(t, role, "")
	f.eng.Hosts = []*inventory.Host{f.eng.Inventory.Host("a")}
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := f.eng.Plan(context.Background())
	if n := len(p.Hosts[0].Changes); n != 2 {
		t.Fatalf("plan: %d changes, want 2: %+v", n, p.Hosts[0].Changes)
	}
	// Checked once the gate opened: the line is the module's own.
	if s := p.Hosts[0].Changes[1].Summary; !strings.HasPrefix(s, "on c: ") || !strings.Contains(s, "gated-from-a") {
		t.Errorf("gated change summary %q is not its check's", s)
	}
	if p = f.eng.Apply(context.Background(), f.ch); p.Failed() || len(p.Hosts[0].Changes) != 2 {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	before := f.conns["c"].Runs()
	if p = f.eng.Apply(context.Background(), f.ch); p.Failed() || len(p.Hosts[0].Changes) != 0 {
		t.Fatalf("second apply: %+v", p.Hosts[0])
	}
	if n := f.conns["c"].Runs() - before; n != 0 {
		t.Errorf("a run with nothing to change asked the gated task's delegate %d times", n)
	}
}

func TestSerialBatches(t *testing.T) {
	var order []string
	var mu sync.Mutex
	f := newFixture(t, `task "touch" "a" { path = "DIR/${host.name}" }`, "")
	f.eng.Playbook.Plays[0].Serial = []int{1, 2}
	f.eng.Observer = batchObserver{func(ev string) { mu.Lock(); order = append(order, ev); mu.Unlock() }}
	t.Chdir(f.dir)
	os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755)
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() {
		t.Fatal(p.Hosts)
	}
	pos := map[string]int{}
	for i, ev := range order {
		pos[ev] = i
	}
	if pos["done a"] > pos["start b"] || pos["done a"] > pos["start c"] || len(order) != 6 {
		t.Errorf("events %v: the canary (a) must finish before b and c start", order)
	}
}

type batchObserver struct{ done func(string) }

func (batchObserver) PlayStarted(string, []string)                         {}
func (o batchObserver) HostTasks(h string, _ int)                          { o.done("start " + h) }
func (batchObserver) TaskDone(string, string, string, plan.Status, string) {}
func (o batchObserver) HostDone(h, _ string, _ plan.Status, _ string)      { o.done("done " + h) }

// reversibleTouch is touch with an undo that removes the file again.
type reversibleTouch struct{ touch }

func (m *reversibleTouch) Reversal(dir string) (backup, undo, after string) {
	return "", fmt.Sprintf("rm -f %q", m.path), ""
}

func TestRevertAllUndoesCompletedHosts(t *testing.T) {
	role := `
task "rtouch" "a" { path = "DIR/${host.name}-a" }
task "rtouch" "b" {
  path = "DIR/${host.name}-b"
  fail = host.name == "b"
}
`
	f := newFixture(t, role, "")
	f.eng.Playbook.Plays[0].Serial = []int{1}
	f.eng.Playbook.Plays[0].MaxFail = 0
	w, err := journal.Create(filepath.Join(f.dir, "runs"), journal.Run{ID: "revert", Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f.ch.Journal, f.ch.Rollback, f.ch.RevertAll, f.eng.RunID = w, true, true, "revert"
	f.eng.HostRuns = filepath.Join(f.dir, "host-runs")
	t.Chdir(f.dir)
	os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755)
	p := f.eng.Apply(context.Background(), f.ch)
	st := map[string]string{}
	for _, h := range p.Hosts {
		st[h.Name] = string(h.Status) + ": " + h.Error
	}
	if !strings.Contains(st["a"], "reverted (--revert-all)") || !strings.Contains(st["b"], "rolled back") || !strings.Contains(st["c"], "not run") {
		t.Fatalf("statuses: %v", st)
	}
	entries, _ := os.ReadDir(filepath.Join(f.dir, "DIR"))
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left after the revert: %v", names)
	}
}
