package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// With Engine.Locks set, an apply first reads every host it touches (facts
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

func (e *Engine) addLockTarget(h *inventory.Host, t transport.Transport) {
	e.lazy.mu.Lock()
	e.lazy.targets = append(e.lazy.targets, lockTarget{h, t})
	e.lazy.mu.Unlock()
}

// locksHeld reports whether the run holds its locks (taken eagerly, or
// lazily and all granted).
func (e *Engine) locksHeld() bool {
	if e.Locks == nil {
		return true // an apply without locks (tests)
	}
	e.lazy.mu.Lock()
	defer e.lazy.mu.Unlock()
	return e.lazy.done && e.lazy.err == nil
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

// lockAll takes the lock of every host the run touches, once
// for the run; callers wait for it. When a host refuses, the run stops
// before any change: host gets its own error when it is one of them, the
// run's otherwise. What was read before the locks is dropped.
func (e *Engine) lockAll(ctx context.Context, host string) error {
	e.lazy.mu.Lock()
	defer e.lazy.mu.Unlock()
	if !e.lazy.done {
		e.lazy.done = true
		targets := e.lazy.targets
		errs := make([]error, len(targets))
		Parallel(len(targets), e.Forks, func(i int) {
			errs[i] = e.Locks.Take(ctx, targets[i].h.Name, targets[i].t)
		})
		var refused []string
		for i, err := range errs {
			if err != nil {
				if e.lazy.hostErr == nil {
					e.lazy.hostErr = map[string]error{}
				}
				e.lazy.hostErr[targets[i].h.Name] = err
				refused = append(refused, targets[i].h.Name)
			}
		}
		if len(refused) > 0 {
			sort.Strings(refused)
			e.lazy.err = fmt.Errorf("not run: the run stopped before any change because %v could not be locked", refused)
		}
		e.probes.changed()
	}
	if err := e.lazy.hostErr[host]; err != nil {
		return err
	}
	return e.lazy.err
}

// lockRefused marks every host still in the run as stopped by the lock
// refusal, if there was one; it reports whether the run must stop.
func (e *Engine) lockRefused(runs map[string]*hostRun) bool {
	e.lazy.mu.Lock()
	defer e.lazy.mu.Unlock()
	if e.lazy.err == nil {
		return false
	}
	for name, hr := range runs {
		if hr.out.Status == plan.StatusFailed || hr.out.Status == plan.StatusUnreachable {
			continue
		}
		hr.done, hr.out.Status = true, plan.StatusFailed
		hr.out.Error = e.lazy.err.Error()
		if err := e.lazy.hostErr[name]; err != nil {
			hr.out.Error, hr.out.Status = err.Error(), StatusOf(err)
		}
	}
	return true
}
