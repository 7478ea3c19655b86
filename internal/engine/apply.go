package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Changes are what an apply holds and a plan does not: the deploy locks,
// the journal, and what to do when a change fails.
type Changes struct {
	// Locks, when set, are the run's deploy locks: the apply checks them
	// while it reads, takes them before its first change, and releases
	// them at its end (see lazylock.go and locks.go). An apply that
	// changes nothing takes no lock.
	Locks Locker
	// Journal records every change and how to undo it; nil records
	// nothing and disables rollback.
	Journal *journal.Writer
	// Rollback undoes a host's changes of the failing play when a task fails
	// (or the run is interrupted) on it.
	Rollback bool
	// RevertAll: when a play stops on max_fail, also undo its changes on
	// the hosts that had completed it (a rollout reverted everywhere).
	RevertAll bool
	// Pinned, when set, holds the content a saved plan writes (with
	// digests under Engine.ContentKey): a task that would write other
	// content, or content where the plan wrote none, fails instead.
	Pinned plan.Contents
	// Helper, when set, is the probe helper the apply copies to the hosts
	// that can run it and lack it, at Engine.HelperPath.
	Helper *hostprobe.Binary
}

// changer is what a run does with the changes it reads: a plan's
// (planner) only lists them; an apply's (applier) makes them. The read
// path (converge, runPlay, runHost, prepare) holds a changer and nothing
// else through which a host could change.
type changer interface {
	// locked reports whether the run may change hosts without taking
	// locks first; lock takes them all, from host's first check that
	// found a change, and the caller reads again under them.
	locked() bool
	lock(ctx context.Context, host string) error
	// make makes change c, which bound task b found on hr in play p and
	// which hr's result lists as pc (make records on it how many tries
	// the change took); made reports that the host changed.
	make(ctx context.Context, hr *hostRun, p *config.Play, b *Bound, c *module.Change, pc *plan.Change) (made bool, err error)
	// undo rolls back hr's changes in the current play, when the run
	// does; it returns a sentence for the host's error, "" when it did not.
	undo(ctx context.Context, hr *hostRun) string
	// revert undoes play p on completed, the hosts that had completed it,
	// when the play stopped on max_fail after failed hosts.
	revert(ctx context.Context, p *config.Play, completed []*hostRun, failed int)
	// stopped is why the run must stop before its next change (it lost a
	// deploy lock); nil while it may go on.
	stopped() error
	// refused marks the run's hosts when its locks were refused, and
	// reports whether the run must stop; lockRefused only reports it
	// (while other plays may still run).
	refused(runs map[string]*hostRun) bool
	lockRefused() bool
	// keepManaged keeps m as the instances skiff manages on host (see
	// instances.go), when the run changes hosts.
	keepManaged(host string, m managed) error
}

// planner is a plan's changer: it changes nothing, ever.
type planner struct{}

func (planner) locked() bool                          { return true }
func (planner) lock(context.Context, string) error    { return nil }
func (planner) undo(context.Context, *hostRun) string { return "" }
func (planner) stopped() error                        { return nil }
func (planner) refused(map[string]*hostRun) bool      { return false }
func (planner) lockRefused() bool                     { return false }
func (planner) keepManaged(string, managed) error     { return nil }

func (planner) make(context.Context, *hostRun, *config.Play, *Bound, *module.Change, *plan.Change) (bool, error) {
	return false, nil
}

func (planner) revert(context.Context, *config.Play, []*hostRun, int) {}

// applier is an apply's changer: it takes the locks before the first
// change, journals each change with its undo, makes it, and rolls back a
// host's play when the host fails.
type applier struct {
	e *Engine
	Changes
	lazy lazyLock
	// pruned holds host name -> true once the run pruned the host's older runs.
	pruned sync.Map
	// playedMu guards hostRun.played: the copies of a delegated task are
	// made at once (see converge).
	playedMu sync.Mutex
}

func (a *applier) stopped() error { return lockLost(a.Locks) }

func (a *applier) keepManaged(host string, m managed) error { return a.e.writeManaged(host, m) }

func (a *applier) make(ctx context.Context, hr *hostRun, p *config.Play, b *Bound, c *module.Change, pc *plan.Change) (bool, error) {
	e := a.e
	task := fmt.Sprintf("%s/%s %s", p.Name, b.Role.Name, b.ID())
	if ctx.Err() != nil {
		return false, fmt.Errorf("interrupted before %s", task)
	}
	if err := a.stopped(); err != nil {
		return false, fmt.Errorf("stopped before %s: %w", task, err)
	}
	if err := a.checkPinned(hr.host.Name, *pc); err != nil {
		e.told.TaskDone(hr.host.Name, p.Name, pc.Task, plan.StatusFailed, err.Error())
		return false, fmt.Errorf("%s: %w", task, err)
	}
	if err := a.record(ctx, hr, p, b, c); err != nil {
		return false, fmt.Errorf("%s: %w", task, err)
	}
	conn, err := e.targetConn(ctx, hr, b)
	if err != nil {
		return false, fmt.Errorf("%s: %w", task, err)
	}
	tries, err := e.applyTrying(ctx, hr, p.Name, b, conn)
	if b.Task.Retries > 0 {
		pc.Tries = tries
	}
	if err != nil {
		e.told.TaskDone(hr.host.Name, p.Name, b.ID(), plan.StatusFailed, err.Error())
		if tries > 1 {
			return false, fmt.Errorf("%s: failed %d tries, the last: %w", task, tries, err)
		}
		return false, fmt.Errorf("%s: %w", task, err)
	}
	return true, nil
}

// checkPinned refuses a change that writes content the saved plan did not
// (Pinned), just before it is applied: the content is that of this very
// module, whatever changed since the plan was compared.
func (a *applier) checkPinned(host string, c plan.Change) error {
	switch {
	case a.Pinned == nil || c.Content == nil:
		return nil
	case len(a.Pinned[host][c.Key()]) == 0:
		return fmt.Errorf("refused: it would write content from %s, which the saved plan does not write: make a new plan", c.Content.Source)
	case !a.Pinned.Has(host, c.Key(), c.Content.Digest):
		return fmt.Errorf("refused: the content from %s differs from what the saved plan saw: make a new plan", c.Content.Source)
	}
	return nil
}

func (a *applier) undo(ctx context.Context, hr *hostRun) string {
	if !a.Rollback || len(hr.played) == 0 {
		return ""
	}
	return a.rollbackPlay(ctx, hr)
}

func (a *applier) revert(ctx context.Context, p *config.Play, completed []*hostRun, failed int) {
	if !a.RevertAll || !a.Rollback {
		return
	}
	for _, hr := range completed {
		if !hr.done && len(hr.played) > 0 {
			hr.out.Error = fmt.Sprintf("reverted (--revert-all): play %q stopped after %d failed host(s); %s", p.Name, failed, a.rollbackPlay(ctx, hr))
			hr.out.Status = plan.StatusFailed
			hr.done = true
		}
	}
}

// installHelpers copies the run's probe helper to every host of the run
// that can run it and lacks it (an apply's only: a plan never copies it;
// the helper is skiff's own, like the digest records, so it needs no
// lock: see Binary.Install). A failure only costs speed: the host is
// probed with sh, and the user told why (for a processor the helper has
// no build for, once a run).
func (a *applier) installHelpers(ctx context.Context, runs map[string]*hostRun) {
	e := a.e
	if a.Helper == nil || a.Helper.RemotePath() != e.HelperPath {
		return // none to copy, or not the one the probes use
	}
	var hosts []*hostRun
	for _, hr := range runs {
		if hr.conn != nil && !hr.done {
			hosts = append(hosts, hr)
		}
	}
	parallel.Each(len(hosts), e.forks(), func(i int) {
		a.installHelper(ctx, hosts[i].host.Name, hosts[i].conn, hosts[i].facts)
	})
}

func (a *applier) installHelper(ctx context.Context, host string, t transport.Transport, facts cty.Value) {
	e := a.e
	if _, ok := e.helpers.Load(host); ok {
		return
	}
	if facts == cty.NilVal || !facts.Type().IsObjectType() || !facts.Type().HasAttribute("arch") {
		return
	}
	arch := facts.GetAttr("arch")
	if arch.IsNull() {
		return
	}
	if !a.Helper.Fits(arch.AsString()) {
		if note := a.Helper.Lacking(arch.AsString()); note != "" && e.Warn != nil {
			e.Warn("%s", note)
		}
		return
	}
	if err := a.Helper.Install(ctx, t, arch.AsString()); err != nil {
		if e.Warn != nil {
			e.Warn("%s: the probe helper could not be installed, probing with sh: %s", host, e.Scope.Scrub(err.Error()))
		}
		return
	}
	e.helpers.Store(host, e.HelperPath)
	e.keepHelperFact(host)
}

// runConn is the run's connection to the host named name, for a kind whose
// Apply reaches other hosts (module.HostConns): only a host a play of the
// run works on, which the run has locked. Only an apply hands it out.
func (e *Engine) runConn(ctx context.Context, name string) (transport.Transport, error) {
	if h := e.Inventory.Host(name); h != nil {
		for _, p := range e.Playbook.Plays {
			if e.inRun(p, h) {
				return e.conn(ctx, h)
			}
		}
	}
	return nil, fmt.Errorf("%s is not a host of this run", name)
}
