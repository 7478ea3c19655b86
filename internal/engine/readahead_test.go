package engine

import (
	"context"
	"github.com/skiffdeploy/skiff/internal/plan"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// volatileTouch is touch whose probe must never be read ahead.
type volatileTouch struct{ touch }

func (*volatileTouch) Volatile() bool { return true }

func threePlays(t *testing.T, roles map[string]string) *fixture {
	t.Helper()
	f := newPlaysFixture(t, roles, `
play "one"   { hosts = "all"  roles = ["r1"] }
play "two"   { hosts = "all"  roles = ["r2"] }
play "three" { hosts = "a"    roles = ["r3"] }
`, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) resetRuns() {
	for _, c := range f.conns {
		c.Reset()
	}
}

// A run that changes nothing reads every play's state in the host's first
// probe round trip: facts plus one probe, however many plays.
func TestReadAheadNoOpIsOneRoundTrip(t *testing.T) {
	f := threePlays(t, map[string]string{
		"r1": `task "touch" "x" { path = "DIR/${host.name}-x" }`,
		"r2": `task "touch" "y" { path = "DIR/${host.name}-y" }`,
		"r3": `task "touch" "z" { path = "DIR/${host.name}-z" }`,
	})
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || p.Summary.Changed != 3 {
		t.Fatalf("first apply: %+v", p.Summary)
	}
	runs := map[string]func() *plan.Plan{
		"plan":  func() *plan.Plan { return f.eng.Plan(context.Background()) },
		"apply": func() *plan.Plan { return f.eng.Apply(context.Background(), f.ch) },
	}
	for _, mode := range []string{"plan", "apply"} {
		f.resetRuns()
		p := runs[mode]()
		if p.Failed() || p.Summary.Changed != 0 {
			t.Fatalf("%s on converged hosts: %+v", mode, p.Summary)
		}
		for _, h := range []string{"a", "b", "c"} {
			if got := f.conns[h].Runs(); got != 2 {
				t.Errorf("%s: %d round trips on %s, want 2 (facts, one probe)", mode, got, h)
			}
		}
	}
	// Drift in the last play is found from the read-ahead.
	os.Remove(filepath.Join(f.dir, "DIR", "a-z"))
	f.resetRuns()
	p := f.eng.Plan(context.Background())
	if len(p.Hosts[0].Changes) != 1 || p.Hosts[0].Changes[0].Play != "three" {
		t.Fatalf("plan after drift on a: %+v", p.Hosts[0].Changes)
	}
	if got := f.conns["a"].Runs(); got != 2 {
		t.Errorf("drifted plan: %d round trips on a, want 2", got)
	}
}

// A change makes what was read ahead stale: a later play that checks the
// same state sees the change, not the state from before it.
func TestReadAheadIsDroppedAfterAChange(t *testing.T) {
	f := threePlays(t, map[string]string{
		"r1": `task "touch" "x" { path = "DIR/${host.name}-x" }`,
		"r2": `task "touch" "again" { path = "DIR/${host.name}-x" }`,
		"r3": `task "touch" "z" { path = "DIR/${host.name}-z" }`,
	})
	p := f.eng.Apply(context.Background(), f.ch)
	if p.Failed() {
		t.Fatal(p.Hosts)
	}
	// a: x created in play one; play two must find it there (one change),
	// and play three still creates z.
	if n := len(p.Hosts[0].Changes); n != 2 {
		t.Fatalf("a: %d changes, want 2 (x once, z): %+v", n, p.Hosts[0].Changes)
	}
	data, err := os.ReadFile(filepath.Join(f.dir, "DIR", "a-x"))
	if err != nil || strings.Count(string(data), "\n") != 1 {
		t.Fatalf("a-x applied %d times, want once (%v)", strings.Count(string(data), "\n"), err)
	}
}

// A volatile probe (a health check) runs at its own task every time.
func TestVolatileProbesAreNotReadAhead(t *testing.T) {
	f := threePlays(t, map[string]string{
		"r1": `task "touch" "x" { path = "DIR/${host.name}-x" }`,
		"r2": `task "vtouch" "y" { path = "DIR/${host.name}-y" }`,
		"r3": `task "vtouch" "z" { path = "DIR/${host.name}-z" }`,
	})
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() {
		t.Fatal(p.Hosts)
	}
	f.resetRuns()
	if p := f.eng.Plan(context.Background()); p.Summary.Changed != 0 {
		t.Fatalf("plan: %+v", p.Summary)
	}
	if got := f.conns["a"].Runs(); got != 4 {
		t.Errorf("a: %d round trips, want 4 (facts, one per play: two volatile plays)", got)
	}
	if got := f.conns["b"].Runs(); got != 3 {
		t.Errorf("b: %d round trips, want 3", got)
	}
}
