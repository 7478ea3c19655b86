package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"skiff/internal/config"
	"skiff/internal/engine"
	"skiff/internal/inventory"
	"skiff/internal/journal"
	"skiff/internal/plan"
	"skiff/internal/transport"
)

func newRollbackCmd(g *globals) *cobra.Command {
	var runID string
	var yes bool
	cmd := &cobra.Command{
		Use:   "rollback -i INVENTORY [--run ID] [--limit SEL] [--yes]",
		Short: "Undo the changes an earlier apply recorded",
		Long: `rollback reads a run's journal (.skiff/runs/ beside the inventory; by
default the last apply), shows what it will undo on each host, newest change
first, and then undoes it: files, symlinks and directories come back from
backups kept on the host, packages installed by the run are removed,
services return to their previous state and are reloaded on the restored
config. Changes that cannot be undone (commands without an undo, database
statements) are listed and left.

Entries already undone (by an automatic rollback or an earlier skiff
rollback) are skipped, so rollback can be run again safely.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.checkOutput(); err != nil {
				return err
			}
			if !yes && !g.stdinTTY {
				return fmt.Errorf("rollback changes hosts and there is no terminal to ask on: pass --yes")
			}
			ld, err := g.loadInventory(config.NewLoader())
			if err != nil {
				return err
			}
			dir := ld.runsDir()
			if runID == "" {
				if runID, err = journal.Latest(dir, "apply"); err != nil {
					return err
				}
			}
			j, err := journal.Read(dir, runID)
			if err != nil {
				return err
			}
			return g.rollback(cmd.Context(), ld, j, yes)
		},
	}
	addCommon(cmd, g, false)
	cmd.Flags().StringVar(&runID, "run", "", "run id to undo (default: the last apply; ids are the file names in .skiff/runs/)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "roll back without asking")
	return cmd
}

// rollback undoes j's pending entries on the selected hosts.
func (g *globals) rollback(ctx context.Context, ld *loaded, j *journal.Journal, yes bool) error {
	selected := map[string]bool{}
	for _, h := range ld.inv.Hosts {
		selected[h.Name] = ld.limit == nil
	}
	for _, h := range ld.limit {
		selected[h.Name] = true
	}
	result := &plan.Plan{RunID: engine.NewRunID(), Mode: "rollback"}
	work := map[string][]journal.Entry{}
	for _, name := range j.Hosts() {
		h := ld.inv.Host(name)
		if h == nil || !selected[name] {
			continue
		}
		pending := j.Pending(name)
		if len(pending) == 0 {
			continue
		}
		work[name] = pending
		ph := &plan.Host{Name: name, Address: h.Address}
		for _, e := range pending {
			summary := e.Summary
			if !e.Reversible() {
				summary += " (cannot be undone: left as is)"
			}
			ph.Changes = append(ph.Changes, plan.Change{Play: e.Play, Role: e.Role, Task: e.Task, Action: plan.Undo, Summary: summary})
		}
		result.Hosts = append(result.Hosts, ph)
	}
	fmt.Fprintf(g.stderr, "Run %s (%s by %s, %s):\n", j.Run.ID, j.Run.Command, j.Run.Owner, j.Run.Started.Format("2006-01-02 15:04 MST"))
	if len(work) == 0 {
		fmt.Fprintln(g.stderr, "Nothing to roll back: every recorded change of the selected hosts is already undone.")
		result.Finish()
		if g.output == "json" {
			return plan.WriteJSON(g.stdout, result)
		}
		return nil
	}
	preview := *result
	preview.Mode = "plan"
	plan.WriteText(g.stderr, &preview)
	if !yes {
		fmt.Fprint(g.stderr, "\nRoll back these changes? Only 'yes' is accepted: ")
		if answer, _ := readLine(g.stdin); answer != "yes" {
			fmt.Fprintln(g.stderr, "Rollback cancelled.")
			return exitError{1}
		}
	}
	w, err := journal.Append(ld.runsDir(), j.Run.ID)
	if err != nil {
		return err
	}
	defer w.Close()
	lk := newLocker(result.RunID, "rollback", g.warnf)
	dial := g.dialer()
	var connsMu sync.Mutex
	var conns []transport.Transport
	defer func() {
		lk.release() // while the connections are open
		for _, t := range conns {
			t.Close()
		}
	}()
	keep := func(t transport.Transport) {
		connsMu.Lock()
		conns = append(conns, t)
		connsMu.Unlock()
	}
	engine.Parallel(len(result.Hosts), g.forks, func(i int) {
		ph := result.Hosts[i]
		h := ld.inv.Host(ph.Name)
		if err := g.rollbackHost(ctx, dial, keep, lk, w, h, work[ph.Name], result.RunID, ph); err != nil {
			ph.Error, ph.Status = err.Error(), engine.StatusOf(err)
		}
	})
	lk.release()
	result.Finish()
	g.reportLost(lk, result)
	g.report(result)
	if result.Failed() {
		return exitError{1}
	}
	return nil
}

func (g *globals) rollbackHost(ctx context.Context, dial engine.Dialer, keep func(transport.Transport), lk *locker, w *journal.Writer, h *inventory.Host, pending []journal.Entry, runID string, ph *plan.Host) error {
	if len(lk.Lost()) > 0 {
		return fmt.Errorf("not rolled back: the run lost a deploy lock")
	}
	t, err := dial(ctx, h)
	if err != nil {
		return err
	}
	keep(t)
	if err := lk.acquire(ctx, h, t); err != nil {
		return err
	}
	undone, problems := engine.Undo(context.WithoutCancel(ctx), engine.Guarded(t, lk, h.Name), pending)
	if len(undone) > 0 {
		if err := w.MarkUndone(journal.Undone{Host: h.Name, Seqs: undone, By: runID}); err != nil {
			problems = append(problems, err.Error())
		}
	}
	done := map[int]bool{}
	for _, s := range undone {
		done[s] = true
	}
	var kept []plan.Change
	for i, e := range pending {
		if done[e.Seq] {
			kept = append(kept, ph.Changes[i])
		}
	}
	ph.Changes = kept
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
