package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/skiffdeploy/skiff/internal/config"
)

// handlerRef names a handler: its role and its name.
type handlerRef struct{ role, name string }

// notice is a handler notified, and which of its instances.
type notice struct {
	ref handlerRef
	sel *selection
}

// selection is the instances of a handler that were notified: all of
// them (notify = "NAME"), or those named (notify = `NAME["KEY"]`).
type selection struct {
	all  bool
	keys map[string]bool
}

func (s *selection) add(key string, hasKey bool) {
	if !hasKey {
		s.all = true
		return
	}
	if s.keys == nil {
		s.keys = map[string]bool{}
	}
	s.keys[key] = true
}

// has reports whether the instance b of a handler was notified.
func (s *selection) has(b *Bound) bool { return s.all || !b.Keyed || s.keys[b.Key] }

// flushHandlers runs, at the end of play p on hr, the handlers that its
// changed tasks notified, as Ansible does: in the order the play declares
// them (its roles in play order, each role's handlers in file order), each
// at most once. A handler that changes something notifies in turn: a
// handler it notifies that is declared after it runs in the same pass, in
// its place; one declared before it runs in a following pass, after it.
// A handler notified again once it has run (or been queued) is not run
// again.
func (e *Engine) flushHandlers(ctx context.Context, ch changer, p *config.Play, hr *hostRun, notified []notice) error {
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
	pending := map[handlerRef]*selection{}
	note := func(ref handlerRef, key string, hasKey bool) {
		if pending[ref] == nil {
			pending[ref] = &selection{}
		}
		pending[ref].add(key, hasKey)
	}
	for _, n := range notified {
		if _, ok := pos[n.ref]; ok {
			pending[n.ref] = n.sel
		}
	}
	queued := map[handlerRef]bool{}
	bound := map[*Bound]handlerRef{}
	// queue binds ref for hr once: its notified instances whose when is
	// true (none, or one without for_each).
	queue := func(ref handlerRef) ([]*Bound, error) {
		sel := pending[ref]
		queued[ref] = true
		delete(pending, ref)
		role := e.Playbook.Roles[ref.role]
		h := role.Handler(ref.name)
		bs, keys, diags := bindInstances(e.Registry, h, role, e.Scope.Context(hr.host, role, p, hr.facts), e.Scope.files)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s/%s handler %s: %w", p.Name, ref.role, ref.name, &diagError{diags})
		}
		for k := range sel.keys {
			if !slices.Contains(keys, k) {
				return nil, fmt.Errorf("%s/%s: a task notifies %s, but handler %s has no instance %q on %s", p.Name, ref.role, config.InstanceID(ref.name, k), ref.name, k, hr.host.Name)
			}
		}
		var out []*Bound
		for _, b := range bs {
			if sel.has(b) {
				bound[b] = ref
				out = append(out, b)
			}
		}
		return out, nil
	}
	// chain queues what a changed handler notifies: after it in this
	// pass, in declaration order, or in the next pass.
	chain := func(changed *Bound, rest []*Bound) ([]*Bound, error) {
		at := pos[bound[changed]]
		var now []handlerRef
		for _, n := range changed.Notify {
			handler, key, hasKey, _ := config.SplitInstance(n)
			ref := handlerRef{changed.Role.Name, handler}
			if _, ok := pos[ref]; !ok || queued[ref] {
				continue
			}
			if pending[ref] == nil && pos[ref] >= at {
				now = append(now, ref)
			}
			note(ref, key, hasKey)
		}
		for _, ref := range now {
			bs, err := queue(ref)
			if err != nil {
				return nil, err
			}
			if len(bs) == 0 {
				continue
			}
			i := 0
			for i < len(rest) && pos[bound[rest[i]]] < pos[ref] {
				i++
			}
			rest = slices.Insert(slices.Clone(rest), i, bs...)
		}
		return rest, nil
	}
	for len(pending) > 0 {
		var batch []*Bound
		for _, ref := range order {
			if pending[ref] == nil {
				continue
			}
			bs, err := queue(ref)
			if err != nil {
				return err
			}
			batch = append(batch, bs...)
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
