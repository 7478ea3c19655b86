package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// countDials wraps the fixture's dialer, counting dials per host; a dial
// to block waits until its context ends.
func countDials(f *fixture, block string) (counts func() map[string]int) {
	var mu sync.Mutex
	n := map[string]int{}
	dial := f.eng.Dial
	f.eng.Dial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		mu.Lock()
		n[h.Name]++
		mu.Unlock()
		if h.Name == block {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return dial(ctx, h)
	}
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range n {
			out[k] = v
		}
		return out
	}
}

// The connections DialAhead opens are the ones the run uses: each host
// is dialled once, and the run's result is the same.
func TestDialAheadConnectionsServeTheRun(t *testing.T) {
	f := newFixture(t, `task "touch" "one" { path = "DIR/${host.name}-1" }`, "")
	t.Chdir(f.dir)
	counts := countDials(f, "")
	f.eng.DialAhead(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for len(counts()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if c := counts(); len(c) != 3 {
		t.Fatalf("DialAhead dialled %v, want a, b and c", c)
	}
	p := f.eng.Plan(context.Background())
	if p.Failed() || p.Summary.Changed != 3 {
		t.Fatalf("plan after DialAhead: %+v", p.Summary)
	}
	for _, h := range []string{"a", "b", "c"} {
		if n := counts()[h]; n != 1 {
			t.Errorf("%s dialled %d times, want 1", h, n)
		}
	}
}

// Abandon stops a dial under way instead of waiting for it: a playbook
// that fails validation is reported at once, however slow a host is.
func TestAbandonStopsDialsUnderWay(t *testing.T) {
	f := newFixture(t, `task "touch" "one" { path = "DIR/${host.name}-1" }`, "")
	counts := countDials(f, "b")
	f.eng.DialAhead(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for counts()["b"] == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { f.eng.Abandon(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Abandon waited for a dial that never ends")
	}
	if c := counts(); c["a"] != 1 || c["b"] != 1 || c["c"] != 1 {
		t.Errorf("dials: %v, want one per host", c)
	}
}
