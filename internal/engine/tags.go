package engine

import "github.com/skiffdeploy/skiff/internal/config"

// tasksOf returns the tasks of role r that the run runs in play p: those
// Tags selects. Handlers are not among them: they run when a task that
// ran notifies them.
func (e *Engine) tasksOf(p *config.Play, r *config.Role) []*config.Task {
	if e.Tags.IsZero() {
		return r.Tasks
	}
	var out []*config.Task
	for _, t := range r.Tasks {
		if e.Tags.Selects(p, t) {
			out = append(out, t)
		}
	}
	return out
}

// keepUnselected declares, for each task of play p that Tags leaves out,
// the for_each instances skiff manages of it on hr's host: a task that does
// not run keeps them, and is not listed as no longer managed.
func (e *Engine) keepUnselected(p *config.Play, hr *hostRun, declared declaredInstances) {
	if e.Tags.IsZero() {
		return
	}
	for _, rn := range p.Roles {
		for _, t := range e.Playbook.Roles[rn].Tasks {
			if keys, ok := hr.managed[t.Role+"/"+t.ID()]; ok && !e.Tags.Selects(p, t) {
				declared.add(t, keys)
			}
		}
	}
}
