package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// With Changes.Locks set, an apply first reads every host it touches (facts
// and probes, in the session that checks that no other run holds the
// host's lock) and takes the locks only before its first change: the locks
// of every host the run touches, before anything changes anywhere, and
// then it reads again under them. An apply that finds nothing to change
// never takes a lock and writes nothing on the hosts; one whose hosts are
// locked by another run is refused as before.
type lazyLock struct {
	mu      sync.Mutex
	targets []lockTarget
	done    bool             // Take ran on every target
	hostErr map[string]error // why each refused host could not be locked
	err     error            // the run's error when some could not be
}

type lockTarget struct {
	h *inventory.Host
	t transport.Transport
}

// locked reports whether the run holds its locks (all granted), or has
// none to take (an apply without locks: tests).
func (a *applier) locked() bool {
	if a.Locks == nil {
		return true
	}
	a.lazy.mu.Lock()
	defer a.lazy.mu.Unlock()
	return a.lazy.done && a.lazy.err == nil
}

// wantsChange reports whether a check of tasks found anything to apply: a
// change, or a task gated on others' changes (if_changed) that runs; a
// gated task whose changes did not happen is skipped, whatever it found.
func wantsChange(tasks []*Bound, changes []*module.Change, forced map[*Bound]string) bool {
	if len(forced) > 0 {
		return true
	}
	for i, c := range changes {
		if c != nil && len(tasks[i].Task.IfChanged) == 0 {
			return true
		}
	}
	return false
}

// lock takes the lock of every host the run touches (those prepare
// read), once for the run; callers wait for it. When a host refuses, the
// run stops before any change: host gets its own error when it is one of
// them, the run's otherwise. What was read before the locks is dropped.
func (a *applier) lock(ctx context.Context, host string) error {
	e := a.e
	a.lazy.mu.Lock()
	defer a.lazy.mu.Unlock()
	if !a.lazy.done {
		a.lazy.done = true
		targets := a.lazy.targets
		errs := make([]error, len(targets))
		parallel.Each(len(targets), e.forks(), func(i int) {
			errs[i] = a.Locks.Take(ctx, targets[i].h.Name, targets[i].t)
		})
		var refused []string
		for i, err := range errs {
			if err != nil {
				if a.lazy.hostErr == nil {
					a.lazy.hostErr = map[string]error{}
				}
				a.lazy.hostErr[targets[i].h.Name] = err
				refused = append(refused, targets[i].h.Name)
			}
		}
		if len(refused) > 0 {
			sort.Strings(refused)
			a.lazy.err = fmt.Errorf("not run: the run stopped before any change because %v could not be locked", refused)
		}
		e.probes.changed()
	}
	if err := a.lazy.hostErr[host]; err != nil {
		return err
	}
	return a.lazy.err
}

// lockRefused reports whether the locks were refused, changing nothing.
func (a *applier) lockRefused() bool {
	a.lazy.mu.Lock()
	defer a.lazy.mu.Unlock()
	return a.lazy.err != nil
}

// refused marks every host still in the run as stopped by the lock
// refusal, if there was one; it reports whether the run must stop.
func (a *applier) refused(runs map[string]*hostRun) bool {
	a.lazy.mu.Lock()
	defer a.lazy.mu.Unlock()
	if a.lazy.err == nil {
		return false
	}
	for name, hr := range runs {
		if hr.out.Status == plan.StatusFailed || hr.out.Status == plan.StatusUnreachable {
			continue
		}
		hr.done, hr.out.Status = true, plan.StatusFailed
		hr.out.Error = a.lazy.err.Error()
		if err := a.lazy.hostErr[name]; err != nil {
			hr.out.Error, hr.out.Status = err.Error(), plan.StatusOf(err)
		}
	}
	return true
}
