package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// runPlay runs one play on its hosts in serial batches; it returns true when
// the play's max_fail was exceeded and the run must stop.
func (e *Engine) runPlay(ctx context.Context, ch changer, p *config.Play, hosts []*hostRun) bool {
	failed := 0
	for start, batch := 0, 0; start < len(hosts); batch++ {
		size := len(hosts)
		if len(p.Serial) > 0 {
			size = p.Serial[min(batch, len(p.Serial)-1)]
		}
		end := min(start+size, len(hosts))
		var mu sync.Mutex
		batchHosts := hosts[start:end]
		parallel.Each(len(batchHosts), e.forks(), func(i int) {
			e.hostSlots <- struct{}{}
			defer func() { <-e.hostSlots }()
			if !e.runHost(ctx, ch, p, batchHosts[i]) {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
		if p.MaxFail >= 0 && failed > p.MaxFail {
			ch.revert(ctx, p, hosts[:end], failed)
			for _, hr := range hosts[end:] {
				if hr.out.Error == "" {
					hr.out.Error = fmt.Sprintf("not run: play %q stopped after %d failed host(s) (max_fail = %d)", p.Name, failed, p.MaxFail)
					hr.out.Status = plan.StatusFailed
					hr.done = true
				}
			}
			return true
		}
		if ctx.Err() != nil || ch.stopped() != nil {
			return true
		}
		start = end
	}
	return false
}

// connect opens the host's connection and reads its facts, once per run.
func (e *Engine) connect(ctx context.Context, hr *hostRun) error {
	if hr.conn != nil {
		return nil
	}
	conn, err := e.conn(ctx, hr.host)
	if err != nil {
		return err
	}
	facts, err := e.gatherFacts(ctx, hr.host.Name, conn)
	if err != nil {
		return err
	}
	hr.conn, hr.facts = conn, facts
	return nil
}

// runHost runs play p on one host; false when the host failed.
func (e *Engine) runHost(ctx context.Context, ch changer, p *config.Play, hr *hostRun) bool {
	name := hr.host.Name
	hr.played = nil
	var declared declaredInstances // set once the play's tasks are bound
	fail := func(err error) bool {
		if declared != nil {
			e.keepManaged(ch, hr, e.remember(p, hr, declared, false))
		}
		hr.done = true
		status := plan.StatusOf(err)
		hr.out.Status = status
		hr.out.Error, hr.out.Diagnostics = err.Error(), diagnosticsOf(err)
		if undone := ch.undo(ctx, hr); undone != "" {
			hr.out.Error += "; " + undone
		}
		e.told.HostDone(name, p.Name, status, hr.out.Error)
		return false
	}
	if err := e.connect(ctx, hr); err != nil {
		return fail(err)
	}
	var tasks []*Bound
	bound := declaredInstances{}
	for _, rn := range p.Roles {
		role := e.Playbook.Roles[rn]
		evalCtx := e.Scope.Context(hr.host, role, p, hr.facts)
		if d := role.CheckVariables(evalCtx); d.HasErrors() {
			return fail(fmt.Errorf("%s/%s: %w", p.Name, rn, &diagError{d}))
		}
		for _, t := range e.tasksOf(p, role) {
			bt, ok := hr.takeBound(p, t)
			if !ok {
				bound, keys, err := e.bindFor(ctx, t, role, evalCtx)
				if err != nil {
					return fail(fmt.Errorf("%s/%s %s: %w", p.Name, rn, t.ID(), err))
				}
				bt = boundTask{bound, keys}
			}
			tasks = append(tasks, bt.bs...)
			bound.add(t, bt.keys)
		}
	}
	if err := e.loadManaged(hr); err != nil {
		return fail(err)
	}
	e.keepUnselected(p, hr, bound)
	declared = bound
	if !hr.readAhead {
		hr.readAhead = true
		hr.ahead = e.readAhead(p, hr, hr.facts)
	}
	e.told.HostTasks(name, len(tasks))
	changedBefore := len(hr.out.Changes)
	notified, err := e.converge(ctx, ch, p, hr, tasks, nil)
	if err != nil {
		return fail(err)
	}
	if err := e.flushHandlers(ctx, ch, p, hr, notified); err != nil {
		return fail(err)
	}
	e.forget(ch, p, hr, declared)
	status := plan.StatusOK
	if len(hr.out.Changes) > changedBefore {
		status = plan.StatusChanged
	}
	e.told.HostDone(name, p.Name, status, "")
	return true
}

// converge checks tasks in one batched probe and has ch make the changes,
// in order (an apply's makes them; a plan's lists them). After a change, the remaining tasks are probed
// again (one round trip), since the change may affect them. It returns the
// handlers notified by changed tasks, in declaration order, each once.
// more, when set, is called after each change with the tasks still to
// run, and returns them with any it adds (handlers that the changed
// handler notifies: see flushHandlers).
func (e *Engine) converge(ctx context.Context, ch changer, p *config.Play, hr *hostRun, tasks []*Bound, more func(changed *Bound, rest []*Bound) ([]*Bound, error)) ([]notice, error) {
	name := hr.host.Name
	notifiedSet := map[handlerRef]*selection{}
	var changes []*module.Change
	var forced map[*Bound]string // gated tasks that run, and why
	stale := true
	for i := 0; i < len(tasks); i++ {
		if stale {
			held := ch.locked()
			var err error
			changes, forced, err = e.checkRest(ctx, hr, p, tasks[i:], forced)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Name, err)
			}
			stale = false
			// The first change of a lazily locked run (only ever at the
			// play's first check: later checks follow a change) takes the
			// locks, then reads again under them.
			if !held && i == 0 && wantsChange(tasks, changes, forced) {
				if err := ch.lock(ctx, name); err != nil {
					return nil, err
				}
				if changes, forced, err = e.checkRest(ctx, hr, p, tasks, nil); err != nil {
					return nil, fmt.Errorf("%s: %w", p.Name, err)
				}
			}
		}
		// The copies of a task delegated to several hosts (drain on every
		// lb host) are made at once; otherwise one task at a time.
		last := i
		for more == nil && sameDelegated(tasks, i, last+1) {
			last++
		}
		var steps []making
		for ; i <= last; i++ {
			b, c := tasks[i], changes[0]
			changes = changes[1:]
			if len(b.Task.IfChanged) > 0 {
				why, run := forced[b]
				if !run {
					e.told.TaskDone(name, p.Name, b.ID(), plan.StatusSkipped, "")
					continue
				}
				if c == nil {
					c = &module.Change{Action: plan.Run, Summary: b.ID() + " (" + why + ")"}
				}
			}
			hr.out.Tasks++
			if c == nil {
				e.told.TaskDone(name, p.Name, b.ID(), plan.StatusOK, "")
				continue
			}
			if b.Target != nil {
				c.Summary = "on " + b.Target.Name + ": " + c.Summary
			}
			taskID := b.ID()
			if b.Role.Handler(b.Task.Name) == b.Task {
				taskID = b.instance("handler." + b.Task.Name)
			}
			steps = append(steps, making{b: b, c: c, taskID: taskID, change: plan.Change{
				Play: p.Name, Role: b.Role.Name, Task: taskID,
				Action: c.Action, Summary: c.Summary, Diff: c.Diff, Sensitive: c.Sensitive,
				Content: e.content(b.Module),
			}})
		}
		i = last
		made, err := e.makeAll(ctx, ch, hr, p, steps)
		if err != nil {
			return nil, err
		}
		stale = made
		for _, st := range steps {
			b := st.b
			if more != nil {
				rest, err := more(b, tasks[i+1:])
				if err != nil {
					return nil, err
				}
				if added := len(rest) - (len(tasks) - i - 1); added > 0 {
					e.told.HostTasks(name, added)
					tasks = append(tasks[:i+1:i+1], rest...)
					stale = true // the added ones are probed with the rest
				}
			}
			for _, n := range b.Notify {
				handler, key, hasKey, _ := config.SplitInstance(n)
				ref := handlerRef{b.Role.Name, handler}
				if notifiedSet[ref] == nil {
					notifiedSet[ref] = &selection{}
				}
				notifiedSet[ref].add(key, hasKey)
			}
		}
	}
	// Handlers run in the order the role declares them.
	var ordered []notice
	for _, rn := range p.Roles {
		for _, h := range e.Playbook.Roles[rn].Handlers {
			if sel := notifiedSet[handlerRef{rn, h.Name}]; sel != nil {
				ordered = append(ordered, notice{handlerRef{rn, h.Name}, sel})
			}
		}
	}
	return ordered, nil
}

// gate decides, from the play's first check on a host, which if_changed
// tasks run: those with a referenced (ungated) task that has a change; a
// reference to an instance (`kind.name["key"]`) only when that instance
// has one.
func (e *Engine) gate(p *config.Play, tasks []*Bound, changes []*module.Change) map[*Bound]string {
	changed := map[*config.Task][]*Bound{}
	for i, b := range tasks {
		if changes[i] != nil && len(b.Task.IfChanged) == 0 {
			changed[b.Task] = append(changed[b.Task], b)
		}
	}
	out := map[*Bound]string{}
	for _, b := range tasks {
		for _, ref := range b.Task.IfChanged {
			refs, _ := config.ResolveRef(e.Playbook, p, b.Role.Name, ref)
			_, key, hasKey, _ := config.SplitInstance(ref)
			for _, t := range refs {
				for _, c := range changed[t] {
					if !hasKey || (c.Keyed && c.Key == key) {
						out[b] = t.Role + "/" + c.ID() + " changes"
						break
					}
				}
				if _, ok := out[b]; ok {
					break
				}
			}
			if _, ok := out[b]; ok {
				break
			}
		}
	}
	return out
}

// content is what m's change writes, keyed with ContentKey; nil when the
// run records no content or m writes none.
func (e *Engine) content(m module.Module) *plan.Content {
	w, ok := m.(module.ContentWriter)
	if e.ContentKey == nil || !ok {
		return nil
	}
	data, source, ok := w.Written()
	if !ok {
		return nil
	}
	return &plan.Content{Source: source, Digest: e.ContentKey.Digest(module.SHA256(data))}
}
