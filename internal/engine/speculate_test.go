package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// withLock gives the fixture's engine deploy locks whose check runs a
// script, as the real one does, and a FactsDir.
func withLock(f *fixture) {
	f.ch.Locks = &hookLocks{peek: func(ctx context.Context, host string, t transport.Transport) error {
		_, err := t.Run(ctx, "echo free")
		return err
	}}
	f.eng.FactsDir = filepath.Join(f.dir, "facts")
}

// With the facts of the last run kept, an apply sends every probe with the
// lock: a run that changes nothing is one round trip per host (the lock's
// release is not counted here).
func TestKeptFactsMakeANoOpApplyOneRoundTrip(t *testing.T) {
	f := threePlays(t, map[string]string{
		"r1": `task "touch" "x" { path = "DIR/${host.name}-x" }`,
		"r2": `task "touch" "y" { path = "DIR/${host.name}-${facts.os_id}" }`,
		"r3": `task "vtouch" "z" { path = "DIR/${host.name}-z" }`,
	})
	withLock(f)
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || p.Summary.Changed != 3 {
		t.Fatalf("first apply: %+v", p.Summary)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "facts", "a.facts")); err != nil {
		t.Fatalf("facts not kept: %v", err)
	}
	f.resetRuns()
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || p.Summary.Changed != 0 {
		t.Fatalf("second apply: %+v", p.Summary)
	}
	for _, h := range []string{"b", "c"} {
		if got := f.conns[h].Runs(); got != 1 {
			t.Errorf("%d round trips on %s, want 1 (lock, facts and probes)", got, h)
		}
	}
	// a's volatile probe is never sent ahead: one more round trip.
	if got := f.conns["a"].Runs(); got != 2 {
		t.Errorf("%d round trips on a, want 2", got)
	}
	// Drift is seen from the probes sent with the lock.
	os.Remove(filepath.Join(f.dir, "DIR", "b-x"))
	f.resetRuns()
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || p.Summary.Changed != 1 {
		t.Fatalf("apply after drift: %+v", p.Summary)
	}
}

// Kept facts that no longer hold (another OS release) bind other probes:
// those are sent at their play, and the run is right, only slower.
func TestStaleKeptFactsCostARoundTripNotAWrongResult(t *testing.T) {
	f := threePlays(t, map[string]string{
		"r1": `task "touch" "x" { path = "DIR/${host.name}-x" }`,
		"r2": `task "touch" "y" { path = "DIR/${host.name}-${facts.os_id}" }`,
		"r3": `task "touch" "z" { path = "DIR/${host.name}-z" }`,
	})
	withLock(f)
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() {
		t.Fatalf("first apply: %+v", p.Summary)
	}
	kept := filepath.Join(f.dir, "facts", "b.facts")
	data, err := os.ReadFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	// The kept facts say another OS, whose file does exist on b: a probe
	// bound with them answers "present", which must not be taken for
	// the real task's.
	os.WriteFile(kept, append(data, "os_id=elsewhere\n"...), 0o600)
	os.WriteFile(filepath.Join(f.dir, "DIR", "b-elsewhere"), nil, 0o644)
	real, _ := filepath.Glob(filepath.Join(f.dir, "DIR", "b-*"))
	for _, p := range real {
		if filepath.Base(p) != "b-x" && filepath.Base(p) != "b-z" && filepath.Base(p) != "b-elsewhere" {
			os.Remove(p) // b's real os_id file: drift
		}
	}
	f.resetRuns()
	p := f.eng.Apply(context.Background(), f.ch)
	if p.Failed() || p.Summary.Changed != 1 {
		t.Fatalf("apply with stale kept facts: %+v", p.Summary)
	}
	if got := f.conns["b"].Runs(); got < 2 {
		t.Errorf("%d round trips on b: the stale speculation cannot have covered play two", got)
	}
}

// Tasks bound with kept facts that still hold are the ones the plays run:
// a no-op binds each task once per host, not once more at its play.
func TestTasksBoundAheadAreNotBoundAgain(t *testing.T) {
	f := threePlays(t, map[string]string{
		"r1": `task "touch" "x" { path = "DIR/${host.name}-x" }`,
		"r2": `task "touch" "y" { path = "DIR/${host.name}-${facts.os_id}" }`,
		"r3": `task "touch" "z" { path = "DIR/${host.name}-z" }`,
	})
	withLock(f)
	var mu sync.Mutex
	builds := map[string]int{}
	build := f.eng.Registry["touch"]
	f.eng.Registry["touch"] = func(a *module.Args) module.Module {
		m := build(a)
		mu.Lock()
		builds[filepath.Base(m.(*touch).path)]++
		mu.Unlock()
		return m
	}
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || p.Summary.Changed != 3 {
		t.Fatalf("first apply: %+v", p.Summary)
	}
	tasks := len(builds) // each play's tasks on its hosts
	clear(builds)
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || p.Summary.Changed != 0 {
		t.Fatalf("second apply: %+v", p.Summary)
	}
	for name, n := range builds {
		if n != 1 {
			t.Errorf("%s bound %d times in a no-op, want 1", name, n)
		}
	}
	if len(builds) != tasks {
		t.Errorf("bound %v, want the %d tasks of the first run", builds, tasks)
	}
}

// A plan with kept facts reads like a no-op apply: one round trip per
// host, and it sees drift, changes nothing, and copies no helper.
func TestPlanWithKeptFactsIsOneRoundTrip(t *testing.T) {
	f := threePlays(t, map[string]string{
		"r1": `task "touch" "x" { path = "DIR/${host.name}-x" }`,
		"r2": `task "touch" "y" { path = "DIR/${host.name}-${facts.os_id}" }`,
		"r3": `task "touch" "z" { path = "DIR/${host.name}-z" }`,
	})
	withLock(f)
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || p.Summary.Changed != 3 {
		t.Fatalf("apply: %+v", p.Summary)
	}
	f.ch.Locks = nil // as skiff plan runs
	os.Remove(filepath.Join(f.dir, "DIR", "b-x"))
	f.resetRuns()
	p := f.eng.Plan(context.Background())
	if p.Failed() || p.Summary.Changed != 1 {
		t.Fatalf("plan after drift on b: %+v", p.Summary)
	}
	for _, h := range []string{"a", "b", "c"} {
		if got := f.conns[h].Runs(); got != 1 {
			t.Errorf("plan: %d round trips on %s, want 1 (facts and probes)", got, h)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "DIR", "b-x")); err == nil {
		t.Error("plan recreated b-x")
	}
}

// A host a plan cannot read fails alone; the others are planned.
func TestPlanWithKeptFactsAndAnUnreachableHost(t *testing.T) {
	f := threePlays(t, map[string]string{
		"r1": `task "touch" "x" { path = "DIR/${host.name}-x" }`,
		"r2": `task "touch" "y" { path = "DIR/${host.name}-y" }`,
		"r3": `task "touch" "z" { path = "DIR/${host.name}-z" }`,
	})
	withLock(f)
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() {
		t.Fatalf("apply: %+v", p.Summary)
	}
	f.ch.Locks = nil
	dial := f.eng.Dial
	f.eng.Dial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		if h.Name == "b" {
			return nil, &transport.UnreachableError{Host: "b", Err: errors.New("connection refused")}
		}
		return dial(ctx, h)
	}
	p := f.eng.Plan(context.Background())
	if p.Summary.Unreachable != 1 || p.Summary.OK != 2 {
		t.Fatalf("plan with b down: %+v", p.Summary)
	}
}

// Facts kept before the probe helper was copied are marked as having it
// once it is there: the next run probes through it at once.
func TestKeptFactsLearnTheHelperCopiedAfterThem(t *testing.T) {
	e := &Engine{FactsDir: t.TempDir()}
	raw := "hostname=h\nos_id=debian\narch=x86_64\n"
	e.keepFacts("h", "", raw)
	e.keepHelperFact("h")
	got, facts, helper, ok := e.keptFacts("h")
	if !ok || !helper {
		t.Fatalf("kept facts %q: helper %v", got, helper)
	}
	if want, _ := parseFacts(raw); !facts.RawEquals(want) {
		t.Errorf("the facts changed: %#v", facts)
	}
	e.keepHelperFact("h")
	if again, _, _, _ := e.keptFacts("h"); again != got {
		t.Errorf("marked twice: %q", again)
	}
}
