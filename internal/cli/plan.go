package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/ui"
)

// planOptions are skiff plan's.
type planOptions struct {
	playbookOptions
	detailedExitCode bool
	out              string // where to save the plan; "" saves none
}

func parsePlan(args []string) (planOptions, error) { return parseWith(definePlan, args) }

func definePlan(o *planOptions) *cobra.Command {
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

With --tags a,b only the tasks that have one of these tags run; with
--skip-tags c those that have it do not (a task has its own tags, those its
role is given in the play, and the play's). Handlers run when a task that
ran notifies them. A tag that no task, role or play gives is an error.

With --detailed-exitcode: exit 0 when nothing would change, 2 when something
would, 1 on any error.`,
		Args: cobra.ExactArgs(1),
	}
	addPlaybookFlags(cmd, &o.playbookOptions)
	addTagFlags(cmd, &o.playbookOptions)
	cmd.Flags().BoolVar(&o.detailedExitCode, "detailed-exitcode", false, "exit 2 when there are changes, 0 when none")
	cmd.Flags().StringVar(&o.out, "out", "", "save the plan to FILE, for skiff apply FILE")
	return cmd
}

func newPlanCmd(c *console, dial engine.Dialer) *cobra.Command {
	return command(definePlan, func(ctx context.Context, o planOptions) error { return runPlan(ctx, c, dial, o) })
}

// runPlan reads every host and shows what apply would change; with --out
// it saves the plan.
func runPlan(ctx context.Context, c *console, dial engine.Dialer, o planOptions) error {
	r, err := newReach(c, o.conn, dial)
	if err != nil {
		return err
	}
	ld, err := loadToRun(ctx, c, o.playbookOptions, r)
	if err != nil {
		return err
	}
	var nonce string
	if o.out != "" {
		if nonce, err = ld.recordContent(); err != nil {
			ld.engine.Abandon()
			return err
		}
	}
	p := newRunner(c, o.playbookOptions, ld).plan(ctx)
	reportRun(c, o.output, p)
	if o.out != "" {
		if p.Failed() {
			fmt.Fprintf(c.err, "skiff: plan not saved: %d host(s) failed or were unreachable\n", p.Summary.Failed+p.Summary.Unreachable)
			return exitError{1}
		}
		if err := savePlan(o.out, o.playbookOptions, nonce, ld, p); err != nil {
			return err
		}
		fmt.Fprintf(c.err, "Plan saved to %s: apply exactly it with skiff apply %s\n", o.out, o.out)
	}
	switch {
	case p.Failed():
		return exitError{1}
	case o.detailedExitCode && p.HasChanges():
		return exitError{2}
	}
	return nil
}

// runner runs a loaded playbook's plans and applies, with progress on
// stderr, and the probe helper where it can.
type runner struct {
	c      *console
	o      playbookOptions
	ld     *loaded
	helper *hostprobe.Binary // what apply copies to hosts; nil: none
}

// newRunner is the runner of ld; it says once when this skiff has no
// probe helper for the hosts.
func newRunner(c *console, o playbookOptions, ld *loaded) *runner {
	rn := &runner{c: c, o: o, ld: ld}
	if !o.noHelper {
		b, note := hostprobe.Helpers()
		if b == nil {
			c.warnf("%s", note)
		} else {
			rn.helper = b
			ld.engine.HelperPath = b.RemotePath()
			ld.engine.ProbeCPU = os.Getenv(hostprobe.CPUEnv) != ""
		}
	}
	return rn
}

// plan reads the hosts and returns what an apply would change.
func (rn *runner) plan(ctx context.Context) *plan.Plan {
	return rn.showing(func(e *engine.Engine) *plan.Plan { return e.Plan(ctx) })
}

// apply converges the hosts with changes.
func (rn *runner) apply(ctx context.Context, changes engine.Changes) *plan.Plan {
	changes.Helper = rn.helper
	return rn.showing(func(e *engine.Engine) *plan.Plan { return e.Apply(ctx, changes) })
}

// showing runs do with progress on stderr.
func (rn *runner) showing(do func(*engine.Engine) *plan.Plan) *plan.Plan {
	v := rn.o.conn.verbosity
	progress := ui.NewProgress(rn.c.err, rn.c.errTTY && v < 2, v >= 1)
	rn.ld.engine.Observer = progress
	p := do(rn.ld.engine)
	progress.Close()
	return p
}

// reportRun renders the result of a plan, apply or rollback: JSON on
// stdout (the recap on stderr), or text and a recap on stdout.
func reportRun(c *console, out output, p *plan.Plan) {
	if out.json() {
		if err := plan.WriteJSON(c.out, p); err != nil {
			c.warnf("writing JSON: %v", err)
		}
		plan.WriteRecap(c.err, p)
		return
	}
	plan.WriteText(c.out, p)
	plan.WriteRecap(c.out, p)
}
