package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// rollbackOptions are skiff rollback's.
type rollbackOptions struct {
	hostOptions
	runID string // "": the newest apply with changes left to undo
	yes   bool
}

func parseRollback(args []string) (rollbackOptions, error) { return parseWith(defineRollback, args) }

func (o *rollbackOptions) finish([]string) error { return o.check() }

func defineRollback(o *rollbackOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollback -i INVENTORY [--run ID] [--limit SEL] [--yes]",
		Short: "Undo the changes an earlier apply recorded",
		Long: `rollback reads a run's journal (.skiff/runs/ beside the inventory), shows
what it will undo on each host, newest change first, and then undoes it:
files, symlinks and directories come back from backups kept on the host,
packages installed by the run are removed, services return to their
previous state and are reloaded on the restored config. Changes that cannot
be undone (commands without an undo, database statements) are listed and
left.

Without --run it takes the newest apply that left a change to undo on the
selected hosts, and says which (id and start): applies that changed nothing
there, or were rolled back already, are passed over. skiff runs lists the
runs and their ids.

Entries already undone (by an automatic rollback or an earlier skiff
rollback) are skipped, so rollback can be run again safely.

A host keeps the backups of its newest runs only (keep_runs in the
inventory, default ` + fmt.Sprint(inventory.DefaultKeepRuns) + `): a run pruned there can no longer be
rolled back there, and rollback says so for that host.`,
		Args: cobra.NoArgs,
	}
	addHostFlags(cmd, &o.hostOptions)
	cmd.Flags().StringVar(&o.runID, "run", "", "run id to undo (default: the newest apply with changes left to undo; skiff runs lists the ids)")
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "roll back without asking")
	return cmd
}

func newRollbackCmd(c *console, dial engine.Dialer) *cobra.Command {
	return command(defineRollback, func(ctx context.Context, o rollbackOptions) error { return runRollback(ctx, c, dial, o) })
}

// runRollback undoes the run --run names, or the newest apply with changes
// left to undo on the selected hosts.
func runRollback(ctx context.Context, c *console, dial engine.Dialer, o rollbackOptions) error {
	r, err := newReach(c, o.conn, dial)
	if err != nil {
		return err
	}
	if !o.yes && !c.inTTY {
		return fmt.Errorf("rollback changes hosts and there is no terminal to ask on: pass --yes")
	}
	ld, err := loadHosts(c, o.hostOptions)
	if err != nil {
		return err
	}
	dir := ld.runsDir()
	if o.runID != "" {
		j, err := journal.Read(dir, o.runID)
		if err != nil {
			return err
		}
		return rollback(ctx, c, r, o, ld, j)
	}
	j, passed, err := journal.LatestUndoable(dir, ld.selects)
	if err != nil {
		return err
	}
	if j == nil {
		fmt.Fprintf(c.err, "Nothing to roll back: no apply recorded in %s left a change to undo on the selected hosts (skiff runs lists them).\n", dir)
		if o.output.json() {
			result := &plan.Plan{RunID: engine.NewRunID(), Mode: "rollback"}
			result.Finish()
			return plan.WriteJSON(c.out, result)
		}
		return nil
	}
	fmt.Fprintln(c.err, pickedRun(j, passed))
	return rollback(ctx, c, r, o, ld, j)
}

// pickedRun says which run rollback took when no --run was given, and why.
func pickedRun(j *journal.Journal, passed []*journal.Journal) string {
	msg := fmt.Sprintf("No --run given: rolling back run %s, started %s, the newest apply with changes left to undo",
		j.Run.ID, j.Run.Started.UTC().Format("2006-01-02 15:04:05 MST"))
	switch len(passed) {
	case 0:
	case 1:
		msg += fmt.Sprintf(" (the newer run %s has none)", passed[0].Run.ID)
	default:
		msg += fmt.Sprintf(" (%d newer runs have none, the newest %s)", len(passed), passed[0].Run.ID)
	}
	return msg + "."
}

// selects reports whether the host named name is in the inventory and
// selected by --limit (every host without it).
func (ld *loaded) selects(name string) bool {
	return slices.ContainsFunc(ld.hosts(), func(h *inventory.Host) bool { return h.Name == name })
}

// rollback undoes j's pending entries on the selected hosts, after
// showing them and, without --yes, asking.
func rollback(ctx context.Context, c *console, r *reach, o rollbackOptions, ld *loaded, j *journal.Journal) error {
	hosts, work, result := undoWork(ld, j)
	fmt.Fprintf(c.err, "Run %s (%s by %s, %s):\n", j.Run.ID, j.Run.Command, j.Run.Owner, j.Run.Started.Format("2006-01-02 15:04 MST"))
	if len(work) == 0 {
		fmt.Fprintln(c.err, "Nothing to roll back: every recorded change of the selected hosts that can be undone is already undone.")
		result.Finish()
		if o.output.json() {
			return plan.WriteJSON(c.out, result)
		}
		return nil
	}
	preview := *result
	preview.Mode = "plan"
	plan.WriteText(c.err, &preview)
	if !o.yes && !c.confirm("\nRoll back these changes? ") {
		fmt.Fprintln(c.err, "Rollback cancelled.")
		return exitError{1}
	}
	w, err := journal.Append(ld.runsDir(), j.Run.ID)
	if err != nil {
		return err
	}
	defer w.Close()
	// Failed undos quote the hosts' output: the scope scrubs the secrets
	// that resolve.
	secrets, _ := ld.invCfg.ResolveSecrets(nil)
	e := &engine.Engine{Inventory: ld.inv, Hosts: hosts, Scope: engine.NewScope(ld.inv, secrets, nil, nil),
		Forks: o.forks, RunID: result.RunID, Dial: r.dialer()}
	if r.trace != nil {
		r.trace.SetScrub(e.Scope.Scrub)
	}
	lk := newLocks(c, e.RunID, "rollback")
	result = e.Rollback(ctx, engine.RollbackChanges{Of: j.Run.ID, Pending: work, Journal: w, Locks: lk})
	reportLost(c, lk, result)
	reportRun(c, o.output, result)
	if result.Failed() {
		return exitError{1}
	}
	return nil
}

// undoWork is what rollback has to undo of j on the selected hosts: those
// with changes left to undo, in the journal's order; their entries; and
// the result that lists them.
func undoWork(ld *loaded, j *journal.Journal) ([]*inventory.Host, map[string][]journal.Entry, *plan.Plan) {
	result := &plan.Plan{RunID: engine.NewRunID(), Mode: "rollback"}
	work := map[string][]journal.Entry{}
	var hosts []*inventory.Host
	for _, name := range j.Hosts() {
		if !ld.selects(name) {
			continue
		}
		pending := j.Pending(name)
		if len(j.Undoable(name)) == 0 {
			continue // nothing left there that a rollback can undo
		}
		h := ld.inv.Host(name)
		work[name] = pending
		hosts = append(hosts, h)
		result.Hosts = append(result.Hosts, &plan.Host{Name: name, Address: h.Address, Changes: engine.UndoChanges(pending)})
	}
	return hosts, work, result
}
