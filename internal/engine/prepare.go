package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/wire"
)

// targets are the hosts a run reads before its plays: those of limit
// that a play selects, then every host their tasks and handlers may
// delegate to, in or out of limit. A delegate_to is evaluated for each
// host of its play, with facts unknown (as validate does); one that
// depends on facts could name any host, so it makes every host a target.
func (e *Engine) targets(limit []*inventory.Host) []*inventory.Host {
	touched := map[string]bool{}
	type playHosts struct {
		p     *config.Play
		hosts []*inventory.Host
	}
	var plays []playHosts
	for _, p := range e.Playbook.Plays {
		if sel, err := e.Inventory.Select(p.Hosts); err == nil {
			hosts := inventory.Intersect(sel, limit)
			for _, h := range hosts {
				touched[h.Name] = true
			}
			plays = append(plays, playHosts{p, hosts})
		}
	}
	var out, delegates []*inventory.Host
	inLimit := map[string]bool{}
	for _, h := range limit {
		inLimit[h.Name] = true
	}
	scope := e.Scope.Offline() // local side effects (a CA) stay unknown
	for _, ph := range plays {
		for _, h := range ph.hosts {
			for _, rn := range ph.p.Roles {
				role := e.Playbook.Roles[rn]
				if role == nil {
					continue
				}
				var evalCtx *hcl.EvalContext
				for _, t := range slices.Concat(e.tasksOf(ph.p, role), role.Handlers) {
					if t.DelegateTo == nil {
						continue
					}
					if evalCtx == nil {
						evalCtx = scope.Context(h, role, ph.p, cty.DynamicVal)
					}
					for _, ictx := range instanceContexts(t, evalCtx) {
						for _, d := range e.mayDelegate(t, ictx) {
							if !touched[d.Name] {
								touched[d.Name] = true
								if !inLimit[d.Name] {
									delegates = append(delegates, d)
								}
							}
						}
					}
				}
			}
		}
	}
	for _, h := range limit {
		if touched[h.Name] {
			out = append(out, h)
		}
	}
	return append(out, delegates...)
}

// mayDelegate returns the hosts a task's delegate_to may name in evalCtx:
// its selection, or every host when that is not known before the facts.
// One that does not evaluate names none: validate reports it, and the task
// fails when bound, before it changes anything.
func (e *Engine) mayDelegate(t *config.Task, evalCtx *hcl.EvalContext) []*inventory.Host {
	v, diags := t.DelegateTo.Value(evalCtx)
	if diags.HasErrors() {
		return nil
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		return e.Inventory.Hosts
	}
	if v.IsNull() || v.Type() != cty.String {
		return nil
	}
	sel, err := e.Inventory.Select(v.AsString())
	if err != nil {
		return nil
	}
	return sel
}

// prepare connects, in parallel, every host a play of the run will touch
// and checks its deploy lock in locks (a plan has none: it reads only its
// own hosts, not delegates). It returns the hosts whose locks it checked,
// with their connections, and false when a check failed: the run must
// stop before any change, and every host says why.
func (e *Engine) prepare(ctx context.Context, runs map[string]*hostRun, limit []*inventory.Host, locks Locker) (checked []lockTarget, ok bool) {
	// Each host to prepare; hr is nil for a delegate outside the run's hosts.
	type target struct {
		h  *inventory.Host
		hr *hostRun
	}
	var targets []target
	for _, h := range e.targets(limit) {
		targets = append(targets, target{h, runs[h.Name]})
	}
	readsOnly := locks == nil // a plan's
	var mu sync.Mutex
	var refused []string
	parallel.Each(len(targets), e.forks(), func(i int) {
		h, hr := targets[i].h, targets[i].hr
		if hr == nil && readsOnly {
			return // a plan's delegate is read when a task needs it
		}
		// The tasks are bound with the kept facts while the connection
		// is made (see speculate.go).
		type speculation struct {
			kept      string
			keptFacts cty.Value
			helper    bool
			items     []probeItem
		}
		bound := make(chan speculation, 1)
		go func() {
			var sp speculation
			if kept, facts, helper, ok := e.keptFacts(h.Name); ok && hr != nil {
				sp = speculation{kept, facts, helper, e.readAhead(nil, hr, facts)}
			}
			bound <- sp
		}()
		t, err := e.conn(ctx, h)
		sp := <-bound
		if err != nil {
			if hr != nil {
				hr.done, hr.out.Error, hr.out.Status = true, err.Error(), plan.StatusOf(err)
				e.told.HostDone(h.Name, "", hr.out.Status, hr.out.Error)
			}
			return // an unreachable delegate fails the tasks delegated to it
		}
		// The facts are read in the session of the lock's check: one
		// session and one round trip for both. A check that runs nothing
		// leaves them to a session of their own. The lock itself is taken
		// before the run's first change (lazylock.go).
		var facts cty.Value
		var factsErr error
		hook := readOnly
		if !readsOnly {
			hook = locks.Peek
		}
		if hr != nil {
			rider := &factsRider{Transport: t, facts: e.factsScript()}
			kept, keptFacts, spec := sp.kept, sp.keptFacts, sp.items
			var specTok wire.Token
			var specN int
			if len(spec) > 0 {
				rider.probe, specTok, specN = e.speculativeProbe(spec, sp.helper)
			}
			gen := e.probes.generation()
			err = hook(ctx, h.Name, rider)
			if rider.rode {
				if rider.err != nil {
					factsErr = rider.err
				} else {
					facts, factsErr = e.readFacts(h.Name, rider.out)
				}
			} else if !transport.IsUnreachable(err) {
				facts, factsErr = e.gatherFacts(ctx, h.Name, t)
			}
			if err == nil && factsErr == nil {
				e.keepFacts(h.Name, kept, string(rider.out.Stdout))
				if specN > 0 && rider.probed {
					if out, perr := parseFrames(rider.probeOut, specTok, len(spec), specN); perr == nil {
						for k, it := range spec {
							e.probes.put(h.Name, it.fragment, gen, out[k])
						}
						// Same facts: every later play's probe is in.
						hr.readAhead = facts.RawEquals(keptFacts)
					}
				}
			}
		} else {
			err = hook(ctx, h.Name, t)
		}
		if hr != nil && factsErr != nil {
			hr.done, hr.out.Error, hr.out.Status = true, factsErr.Error(), plan.StatusOf(factsErr)
			e.told.HostDone(h.Name, "", hr.out.Status, hr.out.Error)
			return
		}
		if hr != nil {
			hr.conn, hr.facts = t, facts
		}
		if err == nil && !readsOnly {
			mu.Lock()
			checked = append(checked, lockTarget{h, t})
			mu.Unlock()
		}
		if err != nil && readsOnly {
			// A plan's read failed: that host fails, the others go on.
			hr.done, hr.out.Error, hr.out.Status = true, err.Error(), plan.StatusOf(err)
			e.told.HostDone(h.Name, "", hr.out.Status, hr.out.Error)
			return
		}
		if err != nil && (hr != nil || !transport.IsUnreachable(err)) {
			mu.Lock()
			refused = append(refused, h.Name)
			mu.Unlock()
			if hr != nil {
				hr.done, hr.out.Error, hr.out.Status = true, err.Error(), plan.StatusFailed
			}
			e.told.HostDone(h.Name, "", plan.StatusFailed, err.Error())
		}
	})
	if len(refused) == 0 {
		return checked, true
	}
	for _, hr := range runs {
		if hr.out.Error == "" {
			hr.done = true
			hr.out.Status = plan.StatusFailed
			hr.out.Error = fmt.Sprintf("not run: the run stopped before any change because %v could not be prepared", refused)
		}
	}
	return checked, false
}

// readOnly is the prepare hook of a plan: a script that does nothing, for
// the facts and the probes to ride on.
func readOnly(ctx context.Context, _ string, t transport.Transport) error {
	_, err := t.Run(ctx, ":")
	return err
}

// factsRider runs the facts script in the same session as the first
// script run through it, after that script, and hands that script's own
// output back alone. With probe set, the probe batch follows the facts
// when that first script succeeded (no other run holds the lock).
type factsRider struct {
	transport.Transport
	facts string
	probe string

	mu       sync.Mutex
	rode     bool
	out      transport.Result // the facts script's
	probeOut transport.Result // the probe batch's, when it ran
	probed   bool
	err      error
}

func (r *factsRider) Run(ctx context.Context, script string) (transport.Result, error) {
	r.mu.Lock()
	first := !r.rode
	r.rode = true
	r.mu.Unlock()
	if !first {
		return r.Transport.Run(ctx, script)
	}
	tok := wire.NewToken()
	res, err := r.Transport.Run(ctx, rideScript(tok, script, r.facts, r.probe))
	if err != nil {
		r.err = err
		return res, err
	}
	own, facts, probe, err := parseRide(res, tok)
	r.out, r.err = facts, err
	if probe != nil {
		r.probeOut, r.probed = *probe, true
	}
	return own, nil
}
