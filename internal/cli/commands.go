package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/lock"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/ui"
	"github.com/skiffdeploy/skiff/internal/version"
)

func newValidateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate -i INVENTORY PLAYBOOK",
		Short: "Check inventory, playbook, roles and templates without connecting",
		Long: `validate decodes the inventory, the playbook and every role it uses, and
evaluates every task for every host it would run on (facts, which need a
connection, are left unknown). Problems are printed as
  file:line:col: error: message
with the offending source line. Exit 1 on any error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ld, err := g.loadOffline(args[0])
			if err != nil {
				return err
			}
			tasks := 0
			for _, r := range ld.book.Roles {
				tasks += len(r.Tasks)
			}
			if g.output == "json" {
				diags := g.diags
				if diags == nil {
					diags = []config.Diagnostic{}
				}
				return ui.WriteJSON(g.stdout, struct {
					Mode        string              `json:"mode"`
					Valid       bool                `json:"valid"`
					Hosts       int                 `json:"hosts"`
					Plays       int                 `json:"plays"`
					Roles       int                 `json:"roles"`
					Tasks       int                 `json:"tasks"`
					Diagnostics []config.Diagnostic `json:"diagnostics"`
				}{"validate", true, len(ld.inv.Hosts), len(ld.book.Plays), len(ld.book.Roles), tasks, diags})
			}
			fmt.Fprintf(g.stdout, "%s and %s are valid: %d host(s), %d play(s), %d role(s), %d task(s)\n",
				g.inventory, args[0], len(ld.inv.Hosts), len(ld.book.Plays), len(ld.book.Roles), tasks)
			return nil
		},
	}
	addCommon(cmd, g, true)
	return cmd
}

func newPlanCmd(g *globals) *cobra.Command {
	var detailed bool
	var out string
	cmd := &cobra.Command{
		Use:   "plan -i INVENTORY PLAYBOOK",
		Short: "Show what apply would change, with diffs; changes nothing",
		Long: `plan connects to every host, reads the state of all its tasks in one batched
round trip (again after a change), and prints per host and task what apply
would do:
  + create   ~ update   - delete   ! run (commands, service operations)
with unified diffs for files and templates. Secrets show as (sensitive).
plan only reads: it never changes a host.

The reads run on the host as sh. Where a host has skiff's probe helper (a
copy of this skiff binary that apply leaves in /var/lib/skiff/helper/ on
hosts of the same system and processor), the helper answers the reads of
files, directories, links, services, packages, ufw, users and groups
itself, without a program per read.
--no-probe-helper reads with sh alone.

With --out FILE the plan is saved; skiff apply FILE applies exactly it, and
refuses hosts whose state changed since, or where a change would write other
content than the plan saw (a local file, template or secret changed since).
Secrets are not written into it: content is pinned by digests keyed with
.skiff/plan.key beside the inventory (made on first use), which the plan
file does not hold.

With --detailed-exitcode: exit 0 when nothing would change, 2 when something
would, 1 on any error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ld, err := g.loadToRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var nonce string
			if out != "" {
				if nonce, err = ld.recordContent(); err != nil {
					ld.engine.Abandon()
					return err
				}
			}
			p := g.run(cmd.Context(), ld, nil)
			g.report(p)
			if out != "" {
				if p.Failed() {
					fmt.Fprintf(g.stderr, "skiff: plan not saved: %d host(s) failed or were unreachable\n", p.Summary.Failed+p.Summary.Unreachable)
					return exitError{1}
				}
				if err := g.savePlan(out, args[0], nonce, ld, p); err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "Plan saved to %s: apply exactly it with skiff apply %s\n", out, out)
			}
			switch {
			case p.Failed():
				return exitError{1}
			case detailed && p.HasChanges():
				return exitError{2}
			}
			return nil
		},
	}
	addCommon(cmd, g, true)
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when there are changes, 0 when none")
	cmd.Flags().StringVar(&out, "out", "", "save the plan to FILE, for skiff apply FILE")
	return cmd
}

func newApplyCmd(g *globals) *cobra.Command {
	var yes, noRollback, revertAll bool
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

On a terminal, apply first shows the plan and asks. Without a terminal it
needs --yes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes && !g.stdinTTY {
				return fmt.Errorf("apply changes hosts and there is no terminal to ask on: pass --yes")
			}
			saved, isPlan, err := plan.ReadSaved(args[0], version.String())
			if err != nil {
				return err
			}
			if isPlan {
				return g.applySaved(cmd.Context(), saved, yes, !noRollback)
			}
			ld, err := g.loadToRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			changes := engine.Changes{Rollback: !noRollback, RevertAll: revertAll}
			if !yes {
				p := g.run(cmd.Context(), ld, nil)
				if proceed, err := g.confirm(p); !proceed {
					return err
				}
				ld.engine.RunID = engine.NewRunID()
			}
			return g.applyLoaded(cmd.Context(), ld, args[0], changes)
		},
	}
	addCommon(cmd, g, true)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking")
	cmd.Flags().BoolVar(&noRollback, "no-rollback", false, "leave a failed host as the failure left it (debugging)")
	cmd.Flags().BoolVar(&revertAll, "revert-all", false, "when a play stops on max_fail, also undo it on the hosts that had completed it")
	return cmd
}

// confirm shows a plan and asks to go on; false with the error to return
// when there is nothing to do, a failure, or no "yes".
func (g *globals) confirm(p *plan.Plan) (bool, error) {
	plan.WriteText(g.stderr, p)
	if p.Failed() {
		plan.WriteRecap(g.stderr, p)
		return false, exitError{1}
	}
	if !p.HasChanges() {
		fmt.Fprintln(g.stderr, "No changes: the hosts match the playbook.")
		if g.output == "json" {
			p.Mode = "apply"
			return false, plan.WriteJSON(g.stdout, p)
		}
		return false, nil
	}
	fmt.Fprint(g.stderr, "\nApply these changes? Only 'yes' is accepted: ")
	answer, _ := bufio.NewReader(g.stdin).ReadString('\n')
	if strings.TrimSpace(answer) != "yes" {
		fmt.Fprintln(g.stderr, "Apply cancelled.")
		return false, exitError{1}
	}
	return true, nil
}

// applyLoaded converges with locks held and changes journalled.
func (g *globals) applyLoaded(ctx context.Context, ld *loaded, playbook string, changes engine.Changes) error {
	p, err := g.applyEngine(ctx, ld, playbook, changes, nil)
	if err != nil {
		return err
	}
	g.report(p)
	if p.Failed() {
		return exitError{1}
	}
	return nil
}

// applyEngine applies with changes, the run's locks held and its changes
// journalled; the journal ends with the hosts that failed, refused (hosts
// a saved plan refused before the run) among them.
func (g *globals) applyEngine(ctx context.Context, ld *loaded, playbook string, changes engine.Changes, refused []string) (*plan.Plan, error) {
	w, err := g.startJournal(ld, "apply", playbook, "")
	if err != nil {
		return nil, err
	}
	defer w.Close()
	lk := g.newLocks(ld.engine.RunID, "apply")
	changes.Journal, changes.Locks = w, lk
	p := g.run(ctx, ld, &changes) // releases the locks
	if err := w.End(outcome(p, refused)); err != nil {
		g.warnf("%v", err)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(g.stderr, "skiff: interrupted: the tasks under way finished, interrupted plays were rolled back, the locks released")
	}
	g.reportLost(lk, p)
	return p, nil
}

func (g *globals) warnf(format string, args ...any) {
	fmt.Fprintf(g.stderr, "skiff: "+format+"\n", args...)
}

// run plans (changes nil) or applies with changes, with progress on stderr.
func (g *globals) run(ctx context.Context, ld *loaded, changes *engine.Changes) *plan.Plan {
	progress := ui.NewProgress(g.stderr, g.stderrTTY && g.verbosity < 2, g.verbosity >= 1)
	ld.engine.Observer = progress
	if ld.engine.Dial == nil {
		ld.engine.Dial = g.dialer()
	}
	ld.engine.Warn = g.warnf
	var helper *hostprobe.Binary
	if !g.noHelper {
		b, note := hostprobe.Helpers()
		if b != nil {
			helper = b
			ld.engine.HelperPath = b.RemotePath()
		}
		if b == nil && !g.helperNoted {
			g.helperNoted = true
			g.warnf("%s", note)
		}
	}
	var p *plan.Plan
	if changes == nil {
		p = ld.engine.Plan(ctx)
	} else {
		c := *changes
		c.Helper = helper
		p = ld.engine.Apply(ctx, c)
	}
	progress.Close()
	return p
}

// report prints the result: JSON on stdout, or text and a recap.
func (g *globals) report(p *plan.Plan) {
	if g.output == "json" {
		if err := plan.WriteJSON(g.stdout, p); err != nil {
			fmt.Fprintf(g.stderr, "skiff: writing JSON: %v\n", err)
		}
		plan.WriteRecap(g.stderr, p)
		return
	}
	plan.WriteText(g.stdout, p)
	plan.WriteRecap(g.stdout, p)
}
