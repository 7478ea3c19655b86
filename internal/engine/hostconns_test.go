package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// reach is a kind whose Apply reaches other hosts through the run's
// connections (module.HostConns) and records what it got for each.
type reach struct{ got map[string]string }

func (r *reach) Probe() string { return "" }
func (r *reach) Check(module.Probed) (*module.Change, error) {
	return &module.Change{Action: plan.Run, Summary: "reach"}, nil
}
func (r *reach) Apply(ctx context.Context, _ transport.Transport) error {
	conns := module.HostConnsFrom(ctx)
	if conns == nil {
		return fmt.Errorf("no HostConns in Apply's context")
	}
	for _, h := range []string{"b", "c", "nobody"} {
		t, err := conns(ctx, h)
		if err == nil {
			_, err = t.Run(ctx, ":")
		}
		r.got[h] = fmt.Sprint(err)
	}
	return nil
}

// A task's Apply reaches the hosts of its run, which the run locked, and
// no other.
func TestApplyReachesOnlyHostsOfTheRun(t *testing.T) {
	f := newPlaysFixture(t, map[string]string{
		"r":    `task "touch" "x" { path = "unused" }`,
		"none": `variable "v" { default = 1 }`,
	}, `
play "p" { hosts = "a"  roles = ["r"] }
play "q" { hosts = "b"  roles = ["none"] }
`, "")
	r := &reach{got: map[string]string{}}
	f.eng.Registry["touch"] = func(a *module.Args) module.Module {
		a.String("path", true)
		return r
	}
	locks := &takenLocks{fileLocks: fileLocks{dir: t.TempDir(), confirmed: map[string]error{}}, taken: map[string]bool{}}
	f.ch.Locks = locks
	locked := locks.taken
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() {
		for _, h := range p.Hosts {
			t.Errorf("%s: %s %s", h.Name, h.Status, h.Error)
		}
		t.FailNow()
	}
	if r.got["b"] != "<nil>" || !locked["b"] {
		t.Errorf("b, a host of the run: %s (locked %v), want reached and locked", r.got["b"], locked["b"])
	}
	for _, h := range []string{"c", "nobody"} {
		if !strings.Contains(r.got[h], h+" is not a host of this run") {
			t.Errorf("%s: %s, want refused", h, r.got[h])
		}
	}
	if f.conns["c"].Runs() != 0 {
		t.Error("c, outside the run, was sent a script")
	}
}

// takenLocks are fileLocks that record which hosts' locks were taken.
type takenLocks struct {
	fileLocks
	mu    sync.Mutex
	taken map[string]bool
}

func (l *takenLocks) Take(_ context.Context, host string, _ transport.Transport) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.taken[host] = true
	return nil
}
