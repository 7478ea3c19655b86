package engine

import (
	"context"
	"fmt"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// checkRest checks the tasks still to run. A gated task (if_changed) is
// checked only when it runs: it runs whatever its check finds, which only
// words its plan line, so a play where nothing changes never asks about it.
// forced nil means the gate is not decided yet (the play's first check, all
// of its tasks): the ungated tasks are checked, the gate decided from them,
// then the gated tasks that run are checked.
func (e *Engine) checkRest(ctx context.Context, hr *hostRun, p *config.Play, tasks []*Bound, forced map[*Bound]string) ([]*module.Change, map[*Bound]string, error) {
	runs := func(b *Bound) bool {
		_, ok := forced[b]
		return len(b.Task.IfChanged) == 0 || ok
	}
	decided := forced != nil
	changes, err := e.checkOnly(ctx, hr, tasks, runs)
	if err != nil || decided {
		return changes, forced, err
	}
	forced = e.gate(p, tasks, changes)
	gated, err := e.checkOnly(ctx, hr, tasks, func(b *Bound) bool {
		_, ok := forced[b]
		return ok
	})
	if err != nil {
		return nil, nil, err
	}
	for i, c := range gated {
		if c != nil {
			changes[i] = c
		}
	}
	return changes, forced, nil
}

// checkOnly checks the tasks that want says to, with no round trip when
// there is none; the others' changes are nil.
func (e *Engine) checkOnly(ctx context.Context, hr *hostRun, tasks []*Bound, want func(*Bound) bool) ([]*module.Change, error) {
	var some []*Bound
	var at []int
	for i, b := range tasks {
		if want(b) {
			some = append(some, b)
			at = append(at, i)
		}
	}
	out := make([]*module.Change, len(tasks))
	if len(some) == 0 {
		return out, nil
	}
	got, err := e.check(ctx, hr, some)
	if err != nil {
		return nil, err
	}
	for j, c := range got {
		out[at[j]] = c
	}
	return out, nil
}

// check probes tasks, one round trip per host they run on, those hosts at
// once (a task delegated to every lb host costs one round trip's wait, not
// one per lb host), and returns each one's change (nil: in state). A probe
// read ahead and still current is not sent again. The first check of a
// host also reads ahead the probes of its later plays (hr.ahead), in the
// same round trip.
func (e *Engine) check(ctx context.Context, hr *hostRun, tasks []*Bound) ([]*module.Change, error) {
	probed := make([]module.Probed, len(tasks))
	groups := map[*inventory.Host][]int{} // nil: the host itself
	var order []*inventory.Host
	for i, b := range tasks {
		if cacheable(b.Module) {
			if out, ok := e.probes.get(e.targetName(hr, b), b.Module.Probe()); ok {
				probed[i] = out
				continue
			}
		}
		// A task the host delegates to itself (a web server that is also an
		// lb host) is probed with the host's own tasks.
		target := b.Target
		if target != nil && target.Name == hr.host.Name {
			target = nil
		}
		if _, ok := groups[target]; !ok {
			order = append(order, target)
		}
		groups[target] = append(groups[target], i)
	}
	ahead := hr.ahead
	hr.ahead = nil
	if len(ahead) > 0 && groups[nil] == nil {
		order = append(order, nil)
	}
	errs := make([]error, len(order))
	parallel.Each(len(order), len(order), func(n int) {
		errs[n] = e.probeTarget(ctx, hr, tasks, order[n], groups[order[n]], ahead, probed)
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	out := make([]*module.Change, len(tasks))
	for i, b := range tasks {
		c, err := b.Module.Check(probed[i])
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", b.Role.Name, b.ID(), err)
		}
		out[i] = c
	}
	return out, nil
}

// probeTarget probes tasks[idx], which run on target (nil: hr's host, with
// the probes read ahead), in one round trip, into probed[idx].
func (e *Engine) probeTarget(ctx context.Context, hr *hostRun, tasks []*Bound, target *inventory.Host, idx []int, ahead []probeItem, probed []module.Probed) error {
	items := make([]probeItem, len(idx))
	sending := map[string]bool{}
	for k, i := range idx {
		items[k] = itemOf(tasks[i])
		sending[items[k].fragment] = true
	}
	if target == nil {
		for _, it := range ahead {
			if _, cached := e.probes.get(hr.host.Name, it.fragment); !sending[it.fragment] && !cached {
				items = append(items, it)
			}
		}
	}
	if len(items) == 0 {
		return nil
	}
	conn := hr.conn
	if target != nil {
		var err error
		if conn, err = e.targetConn(ctx, hr, tasks[idx[0]]); err != nil {
			return err
		}
	}
	host := hr.host.Name
	if target != nil {
		host = target.Name
	}
	gen := e.probes.generation()
	out, err := e.probe(ctx, host, conn, items)
	if err != nil {
		if target != nil {
			return fmt.Errorf("on %s: %w", target.Name, err)
		}
		return err
	}
	for k, it := range items {
		if k >= len(idx) || cacheable(tasks[idx[k]].Module) {
			e.probes.put(host, it.fragment, gen, out[k])
		}
	}
	for k, i := range idx {
		probed[i] = out[k]
	}
	return nil
}

// targetName is the name of the host a bound task runs on.
func (e *Engine) targetName(hr *hostRun, b *Bound) string {
	if b.Target != nil {
		return b.Target.Name
	}
	return hr.host.Name
}

// targetConn is the connection a bound task runs on: its delegate's, or
// the host's own.
func (e *Engine) targetConn(ctx context.Context, hr *hostRun, b *Bound) (transport.Transport, error) {
	if b.Target == nil {
		return hr.conn, nil
	}
	return e.conn(ctx, b.Target)
}
