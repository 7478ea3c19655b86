package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/lock"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/version"
)

// applyOptions are skiff apply's; playbook is the playbook or a saved
// plan's file.
type applyOptions struct {
	playbookOptions
	yes        bool
	noRollback bool
	revertAll  bool
}

func parseApply(args []string) (applyOptions, error) { return parseWith(defineApply, args) }

func defineApply(o *applyOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apply -i INVENTORY PLAYBOOK [--yes] | apply PLANFILE [--yes]",
		Short: "Converge hosts to the playbook, or apply a saved plan",
		Long: `apply checks every task (as plan does) and makes the changes, in order,
host by host in parallel. Handlers run once at the end of a play on hosts
where a task notified them, in the order the roles declare them; a handler
that changes something notifies in turn, and the handlers it notifies run
after it.

Where a host runs the same system and processor as this machine, apply
copies this skiff binary to /var/lib/skiff/helper/ (root-only, once per
skiff build; older copies are removed) as its probe helper: later plans
and applies read files, directories, links, services, packages, ufw, users
and groups through it, in one process instead of a program per read. It
only reads. --no-probe-helper neither copies nor uses it.

Safety:
  - every host the run touches is locked before its first change (a second
    apply or rollback is refused, naming the holder; see skiff lock): apply
    reads the hosts first, checking only that no other run holds them, then
    locks them all and reads again; an apply with nothing to change takes
    no lock;
  - every change is journalled in .skiff/runs/ beside the inventory, with
    what undoing it needs (backups stay on the host, root-only, for its
    last keep_runs runs: default 10; older runs' are pruned);
  - when a task fails on a host, that host's changes in the failing play are
    undone in reverse order and its services reloaded on the restored
    config ("rolled back"); --no-rollback leaves them, for debugging;
  - Ctrl-C lets the task under way finish, rolls back the play on each host
    it interrupted, and releases the locks;
  - a run that loses a host's lock (taken over by another run, or released
    with skiff lock release) makes no change on that host from then on, and
    none anywhere once it notices (before the next change on that host, or
    at its next heartbeat, every ` + lock.DefaultHeartbeat.String() + `): the tasks under way finish, the
    interrupted plays are rolled back where the run still holds the lock,
    and it exits 1 naming the host and the new holder.
A failing host stops; the others go on; the recap and the exit code say so.

apply PLANFILE applies a plan saved by skiff plan --out, exactly: a host
whose state no longer matches what the plan saw, or where a change would
write other content than the plan saw, is refused, naming the task (and the
content's source).

--tags and --skip-tags choose the tasks by their tags, as for plan; a saved
plan keeps its own.

On a terminal, apply first shows the plan and asks. Without a terminal it
needs --yes.`,
		Args: cobra.ExactArgs(1),
	}
	addPlaybookFlags(cmd, &o.playbookOptions)
	addTagFlags(cmd, &o.playbookOptions)
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "apply without asking")
	cmd.Flags().BoolVar(&o.noRollback, "no-rollback", false, "leave a failed host as the failure left it (debugging)")
	cmd.Flags().BoolVar(&o.revertAll, "revert-all", false, "when a play stops on max_fail, also undo it on the hosts that had completed it")
	return cmd
}

func newApplyCmd(c *console, dial engine.Dialer) *cobra.Command {
	return command(defineApply, func(ctx context.Context, o applyOptions) error { return runApply(ctx, c, dial, o) })
}

// runApply converges the hosts to the playbook, or applies a saved plan;
// without --yes it shows the plan and asks first.
func runApply(ctx context.Context, c *console, dial engine.Dialer, o applyOptions) error {
	r, err := newReach(c, o.conn, dial)
	if err != nil {
		return err
	}
	if !o.yes && !c.inTTY {
		return fmt.Errorf("apply changes hosts and there is no terminal to ask on: pass --yes")
	}
	saved, isPlan, err := plan.ReadSaved(o.playbook, version.String())
	if err != nil {
		return err
	}
	if isPlan {
		return applySaved(ctx, c, r, o, saved)
	}
	ld, err := loadToRun(ctx, c, o.playbookOptions, r)
	if err != nil {
		return err
	}
	rn := newRunner(c, o.playbookOptions, ld)
	if !o.yes {
		if proceed, err := confirmPlan(c, o.output, rn.plan(ctx)); !proceed {
			return err
		}
		ld.engine.RunID = engine.NewRunID()
	}
	p, err := rn.applyJournalled(ctx, engine.Changes{Rollback: !o.noRollback, RevertAll: o.revertAll}, nil)
	if err != nil {
		return err
	}
	reportRun(c, o.output, p)
	if p.Failed() {
		return exitError{1}
	}
	return nil
}

// confirmPlan shows p and asks to go on; false with the error to return
// when there is nothing to do, a failure, or no "yes".
func confirmPlan(c *console, out output, p *plan.Plan) (bool, error) {
	plan.WriteText(c.err, p)
	if p.Failed() {
		plan.WriteRecap(c.err, p)
		return false, exitError{1}
	}
	if !p.HasChanges() {
		fmt.Fprintln(c.err, "No changes: the hosts match the playbook.")
		if out.json() {
			p.Mode = "apply"
			return false, plan.WriteJSON(c.out, p)
		}
		return false, nil
	}
	if !c.confirm("\nApply these changes? ") {
		fmt.Fprintln(c.err, "Apply cancelled.")
		return false, exitError{1}
	}
	return true, nil
}

// applyJournalled applies with changes, the run's locks held and its
// changes journalled; the journal ends with the hosts that failed, refused
// (hosts a saved plan refused before the run) among them.
func (rn *runner) applyJournalled(ctx context.Context, changes engine.Changes, refused []string) (*plan.Plan, error) {
	w, err := startJournal(rn.ld, "apply", rn.o.inventory, rn.o.playbook)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	lk := newLocks(rn.c, rn.ld.engine.RunID, "apply")
	changes.Journal, changes.Locks = w, lk
	p := rn.apply(ctx, changes) // releases the locks
	if err := w.End(outcome(p, refused)); err != nil {
		rn.c.warnf("%v", err)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(rn.c.err, "skiff: interrupted: the tasks under way finished, interrupted plays were rolled back, the locks released")
	}
	reportLost(rn.c, lk, p)
	return p, nil
}
