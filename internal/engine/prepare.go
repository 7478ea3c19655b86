package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/zclconf/go-cty/cty"

	"skiff/internal/inventory"
	"skiff/internal/plan"
	"skiff/internal/transport"
)

// prepare connects, in parallel, every host a play of the run will touch
// and calls e.Prepare on each. It returns false when a Prepare failed: the
// run must stop before any change, and every host says why.
func (e *Engine) prepare(ctx context.Context, runs map[string]*hostRun, limit []*inventory.Host) bool {
	touched := map[string]bool{}
	for _, p := range e.Playbook.Plays {
		if sel, err := e.Inventory.Select(p.Hosts); err == nil {
			for _, h := range inventory.Intersect(sel, limit) {
				touched[h.Name] = true
			}
		}
	}
	// Hosts that tasks delegate to by a fixed selection ("lb") are touched
	// too, in or out of --limit.
	var delegates []*inventory.Host
	for _, r := range e.Playbook.Roles {
		for _, t := range r.Tasks {
			if t.DelegateTo == nil {
				continue
			}
			v, diags := t.DelegateTo.Value(nil)
			if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
				continue
			}
			sel, err := e.Inventory.Select(v.AsString())
			if err != nil {
				continue
			}
			for _, h := range sel {
				if !touched[h.Name] {
					touched[h.Name] = true
					if runs[h.Name] == nil {
						delegates = append(delegates, h)
					}
				}
			}
		}
	}
	var mu sync.Mutex
	var refused []string
	sem := make(chan struct{}, e.Forks)
	var wg sync.WaitGroup
	for _, h := range limit {
		if !touched[h.Name] {
			continue
		}
		hr := runs[h.Name]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := e.connect(ctx, hr); err != nil {
				hr.done = true
				hr.out.Error = err.Error()
				hr.out.Status = plan.StatusFailed
				if transport.IsUnreachable(err) {
					hr.out.Status = plan.StatusUnreachable
				}
				e.Observer.HostDone(h.Name, "", hr.out.Status, hr.out.Error)
				return
			}
			if err := e.Prepare(ctx, h, hr.conn); err != nil {
				mu.Lock()
				refused = append(refused, h.Name)
				mu.Unlock()
				hr.done = true
				hr.out.Error = err.Error()
				hr.out.Status = plan.StatusFailed
				e.Observer.HostDone(h.Name, "", plan.StatusFailed, err.Error())
			}
		}()
	}
	for _, h := range delegates {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t, err := e.conn(ctx, h)
			if err == nil {
				err = e.Prepare(ctx, h, t)
			}
			if err != nil && !transport.IsUnreachable(err) {
				mu.Lock()
				refused = append(refused, h.Name)
				mu.Unlock()
				e.Observer.HostDone(h.Name, "", plan.StatusFailed, err.Error())
			}
		}()
	}
	wg.Wait()
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
