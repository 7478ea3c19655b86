package engine

import "github.com/skiffdeploy/skiff/internal/plan"

// Observer follows a run as it goes, for progress display. Calls come from
// many goroutines at once; implementations synchronise themselves.
type Observer interface {
	// PlayStarted: play begins on hosts.
	PlayStarted(play string, hosts []string)
	// HostTasks: the host has n tasks to check in the current play.
	HostTasks(host string, n int)
	// TaskDone: one task finished on host: ok, changed, failed or skipped.
	TaskDone(host, play, task string, status plan.Status, summary string)
	// HostDone: the host finished the play (play "" before the plays: it
	// could not be read): ok, changed, failed or unreachable; or its play
	// was rolled back (plan.StatusRolledBack).
	HostDone(host, play string, status plan.Status, err string)
}

// nopObserver ignores everything.
type nopObserver struct{}

func (nopObserver) PlayStarted(string, []string)                         {}
func (nopObserver) HostTasks(string, int)                                {}
func (nopObserver) TaskDone(string, string, string, plan.Status, string) {}
func (nopObserver) HostDone(string, string, plan.Status, string)         {}

// scrubbedObserver tells its Observer what it is told, with scrub applied
// to the summaries and errors (which quote host output).
type scrubbedObserver struct {
	Observer
	scrub func(string) string
}

func (o scrubbedObserver) TaskDone(host, play, task string, status plan.Status, summary string) {
	o.Observer.TaskDone(host, play, task, status, o.scrub(summary))
}

func (o scrubbedObserver) HostDone(host, play string, status plan.Status, err string) {
	o.Observer.HostDone(host, play, status, o.scrub(err))
}

// PlayObserver is implemented by Observers that want to know when a play
// has ended on all its hosts (plays may run at once: see schedule).
type PlayObserver interface {
	PlayDone(play string)
}

func (o scrubbedObserver) PlayDone(play string) {
	if p, ok := o.Observer.(PlayObserver); ok {
		p.PlayDone(play)
	}
}
