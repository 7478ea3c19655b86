package engine

// Observer follows a run as it goes, for progress display. Calls come from
// many goroutines at once; implementations synchronise themselves.
type Observer interface {
	// PlayStarted: play begins on hosts.
	PlayStarted(play string, hosts []string)
	// HostTasks: the host has n tasks to check in the current play.
	HostTasks(host string, n int)
	// TaskDone: one task finished on host, with status ok|changed|failed|skipped.
	TaskDone(host, play, task, status, summary string)
	// HostDone: the host finished the play (play "" before the plays: it
	// could not be read) with status ok|changed|failed|unreachable (a
	// plan.Status), or its play was rolled back ("rolled back").
	HostDone(host, play, status, err string)
}

// nopObserver ignores everything.
type nopObserver struct{}

func (nopObserver) PlayStarted(string, []string)                    {}
func (nopObserver) HostTasks(string, int)                           {}
func (nopObserver) TaskDone(string, string, string, string, string) {}
func (nopObserver) HostDone(string, string, string, string)         {}

// scrubbedObserver tells its Observer what it is told, with scrub applied
// to the summaries and errors (which quote host output).
type scrubbedObserver struct {
	Observer
	scrub func(string) string
}

func (o scrubbedObserver) TaskDone(host, play, task, status, summary string) {
	o.Observer.TaskDone(host, play, task, status, o.scrub(summary))
}

func (o scrubbedObserver) HostDone(host, play, status, err string) {
	o.Observer.HostDone(host, play, status, o.scrub(err))
}
