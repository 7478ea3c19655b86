package engine

import (
	"context"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// making is one change converge makes, and how making it went.
type making struct {
	b      *Bound
	c      *module.Change
	taskID string
	change plan.Change
	made   bool
	err    error
}

// sameDelegated reports whether tasks[next] is another copy of the
// delegated task tasks[first] (the same task, on a host none of the copies
// from first on reaches): such copies are made at once. A task with
// retries is not: its tries check the host again, one at a time.
func sameDelegated(tasks []*Bound, first, next int) bool {
	if next >= len(tasks) {
		return false
	}
	a, b := tasks[first], tasks[next]
	if a.Target == nil || b.Target == nil || a.Task != b.Task || a.Role != b.Role || a.Task.Retries > 0 {
		return false
	}
	for _, t := range tasks[first:next] {
		if t.Target == b.Target {
			return false
		}
	}
	return true
}

// makeAll has ch make steps at once (one step: just it), then records
// those made in the host's result in order. It returns whether any change
// was made, and the first error once every step is done.
func (e *Engine) makeAll(ctx context.Context, ch changer, hr *hostRun, p *config.Play, steps []making) (bool, error) {
	parallel.Each(len(steps), len(steps), func(k int) {
		st := &steps[k]
		st.made, st.err = ch.make(ctx, hr, p, st.b, st.c, &st.change)
	})
	made := false
	var failed error
	for _, st := range steps {
		if st.err != nil {
			if failed == nil {
				failed = st.err
			}
			continue
		}
		made = made || st.made
		hr.out.Changes = append(hr.out.Changes, st.change)
		e.told.TaskDone(hr.host.Name, p.Name, st.taskID, plan.StatusChanged, st.c.Summary)
	}
	return made, failed
}
