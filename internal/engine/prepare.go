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
				for _, t := range slices.Concat(role.Tasks, role.Handlers) {
					if t.DelegateTo == nil {
						continue
					}
					if evalCtx == nil {
						evalCtx = scope.Context(h, role, ph.p, cty.DynamicVal)
					}
					for _, d := range e.mayDelegate(t, evalCtx) {
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
// and calls e.Prepare on each (e.Peek when set; a plan's prepare calls
// neither, and reads only its own hosts, not delegates). It returns false
// when a Prepare failed: the run must stop before any change, and every
// host says why.
func (e *Engine) prepare(ctx context.Context, runs map[string]*hostRun, limit []*inventory.Host, mode Mode) bool {
	// Each host to prepare; hr is nil for a delegate outside the run's hosts.
	type target struct {
		h  *inventory.Host
		hr *hostRun
	}
	var targets []target
	for _, h := range e.targets(limit) {
		targets = append(targets, target{h, runs[h.Name]})
	}
	readsOnly := e.Prepare == nil && e.Peek == nil // a plan's
	var mu sync.Mutex
	var refused []string
	Parallel(len(targets), e.Forks, func(i int) {
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
				hr.done, hr.out.Error, hr.out.Status = true, err.Error(), StatusOf(err)
				e.Observer.HostDone(h.Name, "", hr.out.Status, hr.out.Error)
			}
			return // an unreachable delegate fails the tasks delegated to it
		}
		// The facts are read in the session of Prepare's first script
		// (the lock): one session and one round trip for both. A Prepare
		// that runs nothing leaves them to a session of their own.
		var facts cty.Value
		var factsErr error
		// Lazily locked runs only check the lock here (Peek); they take it
		// before their first change.
		hook := e.Prepare
		if e.Peek != nil {
			hook = e.Peek
		}
		if readsOnly {
			hook = readOnly
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
			err = hook(ctx, h, rider)
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
			err = hook(ctx, h, t)
		}
		if hr != nil && factsErr != nil {
			hr.done, hr.out.Error, hr.out.Status = true, factsErr.Error(), StatusOf(factsErr)
			e.Observer.HostDone(h.Name, "", hr.out.Status, hr.out.Error)
			return
		}
		if hr != nil {
			hr.conn, hr.facts = t, facts
		}
		if err == nil {
			if e.Peek != nil {
				e.addLockTarget(h, t)
			}
			if hr != nil && mode == Apply {
				e.installHelper(ctx, h.Name, t, facts)
			}
		}
		if err != nil && readsOnly {
			// A plan's read failed: that host fails, the others go on.
			hr.done, hr.out.Error, hr.out.Status = true, err.Error(), StatusOf(err)
			e.Observer.HostDone(h.Name, "", hr.out.Status, hr.out.Error)
			return
		}
		if err != nil && (hr != nil || !transport.IsUnreachable(err)) {
			mu.Lock()
			refused = append(refused, h.Name)
			mu.Unlock()
			if hr != nil {
				hr.done, hr.out.Error, hr.out.Status = true, err.Error(), plan.StatusFailed
			}
			e.Observer.HostDone(h.Name, "", plan.StatusFailed, err.Error())
		}
	})
	if len(refused) == 0 {
		return true
	}
	for _, hr := range runs {
		if hr.out.Error == "" {
			hr.done = true
			hr.out.Status = plan.StatusFailed
			hr.out.Error = fmt.Sprintf("not run: the run stopped before any change because %v could not be prepared", refused)
		}
	}
	return false
}

// readOnly is the prepare hook of a plan: a script that does nothing, for
// the facts and the probes to ride on.
func readOnly(ctx context.Context, _ *inventory.Host, t transport.Transport) error {
	_, err := t.Run(ctx, ":")
	return err
}

// installHelper copies the run's probe helper to a host that can run it
// and lacks it (apply only: a plan never copies it; the helper is skiff's own,
// like the digest records, so it needs no lock: see Binary.Install). A
// failure only costs speed: the host is probed with sh, and the user told
// why (for a processor the helper has no build for, once a run).
func (e *Engine) installHelper(ctx context.Context, host string, t transport.Transport, facts cty.Value) {
	if e.Helper == nil {
		return
	}
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
	if !e.Helper.Fits(arch.AsString()) {
		if note := e.Helper.Lacking(arch.AsString()); note != "" && e.Warn != nil {
			e.Warn("%s", note)
		}
		return
	}
	if err := e.Helper.Install(ctx, t, arch.AsString()); err != nil {
		if e.Warn != nil {
			e.Warn("%s: the probe helper could not be installed, probing with sh: %s", host, e.Scope.Scrub(err.Error()))
		}
		return
	}
	e.helpers.Store(host, e.Helper.RemotePath())
}

// factsRider runs the facts script in the same session as the first
// script run through it, after that script, and hands that script's own
// output back alone. With probe set, the probe batch follows the facts
// when that first script succeeded (the lock was taken).
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
