package engine

import (
	"context"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// A run is an ordered list of named steps. Each step's do runs in turn
// until one says the run stops there; then the cleanup of every step
// that ran runs, the last step's first, whatever happened.
type step struct {
	name    string
	do      func(ctx context.Context, r *run) (goOn bool)
	cleanup func(r *run)
}

// Plan reads every host the run touches and returns what Apply would
// change. It holds nothing through which a host could change: its changer
// is a planner, which makes no change, and it has no locks, no journal.
func (e *Engine) Plan(ctx context.Context) *plan.Plan {
	return e.run(ctx, "plan", planner{}, []step{
		// With kept facts, a plan reads like an apply: facts and every
		// play's probes in one session per host; without, each play
		// connects its hosts.
		{name: "dial and read facts and probes", do: func(ctx context.Context, r *run) bool {
			if e.FactsDir != "" {
				e.prepare(ctx, r.hosts, r.limit, nil)
			}
			return true
		}, cleanup: closeConnections},
		{name: "plays: read every task, list the changes", do: playAll},
	})
}

// Apply converges the hosts: it reads as Plan does, takes the deploy
// locks before its first change, reads again under them, and makes the
// changes with c's journal, rollback and pins.
func (e *Engine) Apply(ctx context.Context, c Changes) *plan.Plan {
	a := &applier{e: e, Changes: c}
	return e.run(ctx, "apply", a, []step{
		// Every host the run touches, delegates included: the lock's
		// check, the facts and the probes kept facts bind, in one session.
		{name: "dial, check the locks, read facts and probes", do: a.connect, cleanup: closeConnections},
		{name: "copy the probe helper where missing", do: func(ctx context.Context, r *run) bool {
			a.installHelpers(ctx, r.hosts)
			return true
		}},
		// Taken at the first change anywhere, on every host connect
		// checked (lazylock.go); a run that changes nothing takes none.
		{name: "hold the deploy locks", do: func(_ context.Context, r *run) bool {
			a.lazy.targets = r.checked
			return true
		}, cleanup: func(*run) {
			if a.Locks != nil {
				a.Locks.Release() // while the connections are open
			}
		}},
		// Each play: read its tasks; at the first change, lock and read
		// again; apply in order, reading what follows a change again;
		// run the notified handlers; roll back a host's play on failure.
		{name: "plays: read, lock at the first change, read again, apply", do: playAll},
	})
}

// Rollback undoes, on each of the engine's hosts, the changes of an
// earlier run that c lists, newest first, with the hosts' locks held, and
// records in that run's journal what it undid. It reads no playbook and
// runs no play.
func (e *Engine) Rollback(ctx context.Context, c RollbackChanges) *plan.Plan {
	rb := &rollbacker{RollbackChanges: c}
	return e.run(ctx, "rollback", nil, []step{
		{name: "list what to undo on each host", do: rb.list},
		{name: "dial", do: rb.eachHost(rb.dial), cleanup: closeConnections},
		{name: "take the deploy locks", do: rb.eachHost(rb.lock), cleanup: func(*run) {
			c.Locks.Release() // while the connections are open
		}},
		{name: "find the run's backups on the host", do: rb.eachHost(rb.findBackups)},
		{name: "undo, newest first; record what was undone", do: rb.eachHost(rb.undo)},
	})
}

// connect is Apply's first step: with locks, prepare every host the run
// touches, and stop the run when another run holds one of them.
func (a *applier) connect(ctx context.Context, r *run) bool {
	if a.Locks == nil {
		return true // an apply without locks (tests): plays connect
	}
	checked, ok := a.e.prepare(ctx, r.hosts, r.limit, a.Locks)
	r.checked = checked
	return ok
}

// run is the state of one Plan, Apply or Rollback.
type run struct {
	e       *Engine
	ch      changer
	hosts   map[string]*hostRun // the run's hosts (limit's), by name
	limit   []*inventory.Host
	checked []lockTarget // the hosts whose locks connect checked
	result  *plan.Plan
}

// run runs steps, with ch for the plays, and returns what was found or
// done, as the result of a run of mode. The run's
// secrets are scrubbed from every error, summary and diff it returns,
// and from what the Observer is told.
func (e *Engine) run(ctx context.Context, mode string, ch changer, steps []step) *plan.Plan {
	var obs Observer = nopObserver{}
	if e.Observer != nil {
		obs = e.Observer
	}
	e.told = scrubbedObserver{obs, e.Scope.Scrub}
	e.probes = probeCache{}
	e.hostSlots = make(chan struct{}, e.forks())
	r := &run{e: e, ch: ch, hosts: map[string]*hostRun{}, limit: e.runHosts(),
		result: &plan.Plan{RunID: e.RunID, Mode: mode}}
	for _, h := range r.limit {
		hr := &hostRun{host: h, out: &plan.Host{Name: h.Name, Address: h.Address}}
		r.hosts[h.Name] = hr
		r.result.Hosts = append(r.result.Hosts, hr.out)
	}
	var ran []step
	for _, s := range steps {
		ran = append(ran, s)
		if !s.do(ctx, r) {
			break
		}
	}
	for i := len(ran) - 1; i >= 0; i-- {
		if ran[i].cleanup != nil {
			ran[i].cleanup(r)
		}
	}
	r.result.Finish()
	r.result.Scrub(e.Scope.Scrub)
	return r.result
}

func closeConnections(r *run) { r.e.Abandon() }
