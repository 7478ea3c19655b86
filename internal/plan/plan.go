// Package plan holds what a run found or did, per host and task: the value
// `skiff plan` prints and `skiff apply` reports, in text or JSON.
package plan

import "github.com/skiffdeploy/skiff/internal/config"

// Status is how a host ended a plan or run, or how a task ended on a host
// (as a run's progress tells it).
type Status string

// Host statuses, worst last.
const (
	StatusOK          Status = "ok"
	StatusChanged     Status = "changed"
	StatusFailed      Status = "failed"
	StatusUnreachable Status = "unreachable"
)

// Statuses a run's progress tells besides those: a task skipped (its
// `when` is false), and a host whose failed play was rolled back.
const (
	StatusSkipped    Status = "skipped"
	StatusRolledBack Status = "rolled back"
)

// Change is one task's change on one host.
type Change struct {
	Play      string `json:"play"`
	Role      string `json:"role"`
	Task      string `json:"task"`
	Action    Action `json:"action"`
	Summary   string `json:"summary"`
	Diff      string `json:"diff,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
	// Content is what the change writes, when it writes content and the
	// run was asked to record it (saving a plan, applying a saved one).
	Content *Content `json:"content,omitempty"`
	// Tries is how many times an apply tried the change, for a task that
	// sets retries (0 otherwise).
	Tries int `json:"tries,omitempty"`
}

// Key names the change's task on its host: "play/role task".
func (c Change) Key() string { return c.Play + "/" + c.Role + " " + c.Task }

// Host is one host's part of a plan or run.
type Host struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Status  Status   `json:"status"`
	Changes []Change `json:"changes"`
	// Tasks counts the tasks checked on the host (ok or changed).
	Tasks int    `json:"tasks"`
	Error string `json:"error,omitempty"`
	// Diagnostics are the configuration errors the host failed on (an
	// expression that does not evaluate with its facts), with their
	// places in the files as written; Error says the same in one line.
	Diagnostics []config.Diagnostic `json:"diagnostics,omitempty"`
	// RolledBack: the host failed and its changes in the failing play were undone.
	RolledBack bool `json:"rolled_back,omitempty"`
}

// Summary counts hosts by status.
type Summary struct {
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Failed      int `json:"failed"`
	Unreachable int `json:"unreachable"`
}

// Plan is the result of `skiff plan` (Mode "plan") or `skiff apply` ("apply").
type Plan struct {
	RunID   string  `json:"run_id"`
	Mode    string  `json:"mode"`
	Summary Summary `json:"summary"`
	Hosts   []*Host `json:"hosts"`
}

// Finish sets each host's status from its changes and error, and the summary.
func (p *Plan) Finish() {
	p.Summary = Summary{}
	for _, h := range p.Hosts {
		if h.Changes == nil {
			h.Changes = []Change{}
		}
		switch {
		case h.Status == StatusUnreachable:
		case h.Status == StatusFailed || h.Error != "":
			h.Status = StatusFailed
		case len(h.Changes) > 0:
			h.Status = StatusChanged
		default:
			h.Status = StatusOK
		}
		switch h.Status {
		case StatusOK:
			p.Summary.OK++
		case StatusChanged:
			p.Summary.Changed++
		case StatusFailed:
			p.Summary.Failed++
		case StatusUnreachable:
			p.Summary.Unreachable++
		}
	}
}

// Scrub passes every text that may quote a host through scrub: the hosts'
// errors and diagnostics, and the changes' summaries and diffs.
func (p *Plan) Scrub(scrub func(string) string) {
	for _, h := range p.Hosts {
		h.Error = scrub(h.Error)
		for i := range h.Diagnostics {
			d := &h.Diagnostics[i]
			d.Summary, d.Detail = scrub(d.Summary), scrub(d.Detail)
		}
		for i := range h.Changes {
			c := &h.Changes[i]
			c.Summary, c.Diff = scrub(c.Summary), scrub(c.Diff)
		}
	}
}

// Failed reports whether any host failed or was unreachable.
func (p *Plan) Failed() bool { return p.Summary.Failed+p.Summary.Unreachable > 0 }

// HasChanges reports whether any host has a change.
func (p *Plan) HasChanges() bool {
	for _, h := range p.Hosts {
		if len(h.Changes) > 0 {
			return true
		}
	}
	return false
}
