package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
)

// playAll runs the plays, each once the plays it waits for (schedule)
// have finished, until one stops the run (max_fail, refused locks, a lost
// lock, an interrupt): then no other play starts, and those running
// finish. Plays that wait for none of each other run at once; they share
// no host.
func playAll(ctx context.Context, r *run) bool {
	e := r.e
	plays := e.Playbook.Plays
	waits := e.schedule(r.limit)
	finished := make([]chan struct{}, len(plays))
	for i := range finished {
		finished[i] = make(chan struct{})
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i, p := range plays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(finished[i])
			for _, w := range waits[i] {
				<-finished[w]
			}
			if stop.Load() || mustStop(ctx, r) {
				stop.Store(true)
				return
			}
			if !playOne(ctx, r, p) {
				stop.Store(true)
			}
		}()
	}
	wg.Wait()
	if r.ch.refused(r.hosts) {
		return false
	}
	return !stop.Load()
}

// playOne runs p on its hosts still in the run; false when the run must
// stop.
func playOne(ctx context.Context, r *run, p *config.Play) bool {
	e := r.e
	selected, err := e.Inventory.Select(p.Hosts)
	if err != nil { // validated before a run; kept for safety
		for _, hr := range r.hosts {
			hr.out.Error = fmt.Sprintf("play %q: %v", p.Name, err)
		}
		return false
	}
	var hosts []*hostRun
	var names []string
	for _, h := range inventory.Intersect(selected, r.limit) {
		if hr := r.hosts[h.Name]; !hr.done {
			hosts = append(hosts, hr)
			names = append(names, h.Name)
		}
	}
	if len(hosts) == 0 {
		return true
	}
	e.told.PlayStarted(p.Name, names)
	if o, ok := e.told.(PlayObserver); ok {
		defer o.PlayDone(p.Name)
	}
	return !e.runPlay(ctx, r.ch, p, hosts) && !mustStop(ctx, r)
}

// mustStop reports whether the run stops before its next play: refused
// or lost locks, an interrupt.
func mustStop(ctx context.Context, r *run) bool {
	return r.ch.lockRefused() || ctx.Err() != nil || r.ch.stopped() != nil
}

// schedule is, for each play, the earlier plays it waits for. A play
// without after waits for every earlier play (the playbook's order). One
// with after waits for the plays it names, and for every earlier play it
// shares a host with: a host runs its plays one at a time, in the
// playbook's order. A play with a delegated task (or handler), or one of a
// kind that acts on other hosts (SpansHosts), may touch any host, so it
// shares a host with every play; so does one whose hosts cannot be read.
func (e *Engine) schedule(limit []*inventory.Host) [][]int {
	plays := e.Playbook.Plays
	touched := make([]map[string]bool, len(plays)) // nil: every host
	for i, p := range plays {
		selected, err := e.Inventory.Select(p.Hosts)
		hosts := inventory.Intersect(selected, limit)
		if err != nil || e.reachesOthers(p, hosts) {
			continue
		}
		touched[i] = map[string]bool{}
		for _, h := range hosts {
			touched[i][h.Name] = true
		}
	}
	shares := func(a, b int) bool {
		if touched[a] == nil || touched[b] == nil {
			return true
		}
		for h := range touched[a] {
			if touched[b][h] {
				return true
			}
		}
		return false
	}
	waits := make([][]int, len(plays))
	for i, p := range plays {
		for j := range i {
			if p.After == nil || shares(i, j) || slices.Contains(p.After, plays[j].Name) {
				waits[i] = append(waits[i], j)
			}
		}
	}
	return waits
}

// reachesOthers reports whether a task or handler of p's roles that has
// delegate_to, or is of a kind that acts on other hosts, may run on one of
// hosts: its when is not false for every one of them (read with the facts
// unknown, so a when that reads facts may be true).
func (e *Engine) reachesOthers(p *config.Play, hosts []*inventory.Host) bool {
	for _, rn := range p.Roles {
		r := e.Playbook.Roles[rn]
		if r == nil {
			continue
		}
		for _, t := range slices.Concat(r.Tasks, r.Handlers) {
			if (t.DelegateTo != nil || e.SpansHosts[t.Kind]) && e.mayRun(t, r, p, hosts) {
				return true
			}
		}
	}
	return false
}

// mayRun reports whether t's when may be true on one of hosts.
func (e *Engine) mayRun(t *config.Task, r *config.Role, p *config.Play, hosts []*inventory.Host) bool {
	if t.When == nil {
		return len(hosts) > 0
	}
	for _, h := range hosts {
		v, d := t.When.Value(e.Scope.Context(h, r, p, cty.DynamicVal))
		v, _ = v.UnmarkDeep()
		if d.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.Bool || v.True() {
			return true
		}
	}
	return false
}
