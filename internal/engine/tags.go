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
