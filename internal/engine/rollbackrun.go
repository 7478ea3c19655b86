package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// RollbackChanges are what a rollback undoes and holds: the changes of an
// earlier run still to undo on each host, that run's journal, and the
// rollback's own deploy locks.
type RollbackChanges struct {
	// Of is the id of the run whose changes are undone.
	Of string
	// Pending holds, by host name, the journal entries of run Of still to
	// undo there, newest first (journal.Journal.Pending).
	Pending map[string][]journal.Entry
	// Journal is run Of's: it records what is undone, and by which run.
	Journal *journal.Writer
	// Locks are the rollback's deploy locks; required.
	Locks Locker
}

// UndoChanges lists pending, a host's entries to undo, as the changes a
// rollback shows: the entries that cannot be undone say so.
func UndoChanges(pending []journal.Entry) []plan.Change {
	out := make([]plan.Change, len(pending))
	for i, e := range pending {
		summary := e.Summary
		if !e.Reversible() {
			summary += " (cannot be undone: left as is)"
		}
		out[i] = plan.Change{Play: e.Play, Role: e.Role, Task: e.Task, Action: plan.Undo, Summary: summary}
	}
	return out
}

// rollbacker holds what the steps of a Rollback share.
type rollbacker struct {
	RollbackChanges
}

// eachHost makes a step of fn: it runs on every host still in the run, at
// most forks at once; a host whose fn fails gets its error and leaves the
// run. The run goes on with the other hosts.
func (rb *rollbacker) eachHost(fn func(ctx context.Context, r *run, hr *hostRun) error) func(context.Context, *run) bool {
	return func(ctx context.Context, r *run) bool {
		var live []*hostRun
		for _, hr := range r.result.Hosts {
			if h := r.hosts[hr.Name]; !h.done {
				live = append(live, h)
			}
		}
		parallel.Each(len(live), r.e.forks(), func(i int) {
			hr := live[i]
			if err := fn(ctx, r, hr); err != nil {
				hr.done, hr.out.Error, hr.out.Status = true, err.Error(), plan.StatusOf(err)
			}
		})
		return true
	}
}

// list is what the result shows of each host: what the rollback is to
// undo there; undo keeps the changes it undid.
func (rb *rollbacker) list(_ context.Context, r *run) bool {
	for name, hr := range r.hosts {
		hr.out.Changes = UndoChanges(rb.Pending[name])
	}
	return true
}

func (rb *rollbacker) dial(ctx context.Context, r *run, hr *hostRun) error {
	t, err := r.e.conn(ctx, hr.host)
	hr.conn = t
	return err
}

func (rb *rollbacker) lock(ctx context.Context, _ *run, hr *hostRun) error {
	return rb.Locks.Take(ctx, hr.host.Name, hr.conn)
}

// findBackups fails a host where run Of's directory, which holds the
// backups its undo needs, is gone (a later apply pruned it).
func (rb *rollbacker) findBackups(ctx context.Context, r *run, hr *hostRun) error {
	dir := r.e.hostRunsDir() + "/" + rb.Of
	res, err := hr.conn.Run(ctx, fmt.Sprintf("if [ -d %s ]; then echo present; else echo gone; fi\n", shell.Quote(dir)))
	if err != nil {
		return fmt.Errorf("%s: %w", hr.host.Name, err)
	}
	switch strings.TrimSpace(string(res.Stdout)) {
	case "present":
		return nil
	case "gone":
		hr.out.Changes = nil
		return fmt.Errorf("run %s can no longer be rolled back on %s: its backups there (%s) are gone, pruned by a later apply (%s keeps the newest %d runs: keep_runs)",
			rb.Of, hr.host.Name, dir, hr.host.Name, hr.host.Conn.KeepRuns)
	}
	return fmt.Errorf("%s: looking for run %s in %s: exit %d: %s", hr.host.Name, rb.Of, r.e.hostRunsDir(), res.ExitCode, tail(res.Stderr))
}

// undo undoes the host's pending entries, while the run holds its lock,
// even past an interrupt (an undo half done is worse than one finished);
// the result keeps the changes undone, and the journal records them. An
// entry that cannot be undone stays listed (its summary says it is left
// as is) and fails nothing: the rollback did what can be done.
func (rb *rollbacker) undo(ctx context.Context, r *run, hr *hostRun) error {
	if len(rb.Locks.Lost()) > 0 {
		return errors.New("not rolled back: the run lost a deploy lock")
	}
	name := hr.host.Name
	var pending []journal.Entry
	for _, e := range rb.Pending[name] {
		if e.Reversible() {
			pending = append(pending, e)
		}
	}
	var undone []int
	var problems []string
	if len(pending) > 0 {
		undone, problems = Undo(context.WithoutCancel(ctx), Guarded(hr.conn, rb.Locks, name), pending)
	}
	if len(undone) > 0 {
		if err := rb.Journal.MarkUndone(journal.Undone{Host: name, Seqs: undone, By: r.e.RunID}); err != nil {
			problems = append(problems, err.Error())
		}
	}
	done := map[int]bool{}
	for _, s := range undone {
		done[s] = true
	}
	var kept []plan.Change
	for i, e := range rb.Pending[name] {
		if done[e.Seq] || !e.Reversible() {
			kept = append(kept, hr.out.Changes[i])
		}
	}
	hr.out.Changes = kept
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
