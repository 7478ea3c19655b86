package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/skiffdeploy/skiff/internal/config"
)

// handlerRef names a handler: its role and its name.
type handlerRef struct{ role, name string }

// flushHandlers runs, at the end of play p on hr, the handlers that its
// changed tasks notified, as Ansible does: in the order the play declares
// them (its roles in play order, each role's handlers in file order), each
// at most once. A handler that changes something notifies in turn: a
// handler it notifies that is declared after it runs in the same pass, in
// its place; one declared before it runs in a following pass, after it.
// A handler notified again once it has run (or been queued) is not run
// again.
func (e *Engine) flushHandlers(ctx context.Context, ch changer, p *config.Play, hr *hostRun, notified []handlerRef) error {
	var order []handlerRef
	pos := map[handlerRef]int{}
	for _, rn := range p.Roles {
		for _, h := range e.Playbook.Roles[rn].Handlers {
			ref := handlerRef{rn, h.Name}
			if _, dup := pos[ref]; !dup {
				pos[ref] = len(order)
				order = append(order, ref)
			}
		}
	}
	pending := map[handlerRef]bool{}
	for _, n := range notified {
		if _, ok := pos[n]; ok {
			pending[n] = true
		}
	}
	queued := map[handlerRef]bool{}
	bound := map[*Bound]handlerRef{}
	// queue binds ref for hr once; nil when its when is false.
	queue := func(ref handlerRef) (*Bound, error) {
		queued[ref] = true
		delete(pending, ref)
		role := e.Playbook.Roles[ref.role]
		b, skip, diags := Bind(e.Registry, role.Handler(ref.name), role, e.Scope.Context(hr.host, role, p, hr.facts), e.Scope.files)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s/%s handler %s: %w", p.Name, ref.role, ref.name, &diagError{diags})
		}
		if skip {
			return nil, nil
		}
		bound[b] = ref
		return b, nil
	}
	// chain queues what a changed handler notifies: after it in this
	// pass, in declaration order, or in the next pass.
	chain := func(changed *Bound, rest []*Bound) ([]*Bound, error) {
		at := pos[bound[changed]]
		for _, n := range changed.Task.Notify {
			ref := handlerRef{changed.Role.Name, n}
			if _, ok := pos[ref]; !ok || queued[ref] {
				continue
			}
			if pos[ref] < at {
				pending[ref] = true
				continue
			}
			b, err := queue(ref)
			if err != nil {
				return nil, err
			}
			if b == nil {
				continue
			}
			i := 0
			for i < len(rest) && pos[bound[rest[i]]] < pos[ref] {
				i++
			}
			rest = slices.Insert(slices.Clone(rest), i, b)
		}
		return rest, nil
	}
	for len(pending) > 0 {
		var batch []*Bound
		for _, ref := range order {
			if !pending[ref] {
				continue
			}
			b, err := queue(ref)
			if err != nil {
				return err
			}
			if b != nil {
				batch = append(batch, b)
			}
		}
		if len(batch) == 0 {
			continue
		}
		e.told.HostTasks(hr.host.Name, len(batch))
		if _, err := e.converge(ctx, ch, p, hr, batch, chain); err != nil {
			return err
		}
	}
	return nil
}
