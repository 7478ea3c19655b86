package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/jsondoc"
	"github.com/skiffdeploy/skiff/internal/version"
)

// runSummary is one run of `skiff runs`, as its JSON output shows it.
type runSummary struct {
	ID           string     `json:"id"`
	Command      string     `json:"command"`
	Started      time.Time  `json:"started"`
	Ended        *time.Time `json:"ended"` // null: the run did not record its end
	Operator     string     `json:"operator"`
	SkiffVersion string     `json:"skiff_version"`
	Playbook     string     `json:"playbook,omitempty"`
	HostsChanged []string   `json:"hosts_changed"`
	// HostsFailed is null when the journal does not say (see Ended).
	HostsFailed  []string `json:"hosts_failed"`
	RolledBack   string   `json:"rolled_back"` // no, partly, yes
	RolledBackBy []string `json:"rolled_back_by"`
}

func summarize(j *journal.Journal) runSummary {
	s := runSummary{
		ID: j.Run.ID, Command: j.Run.Command, Started: j.Run.Started.UTC(), Operator: j.Run.Owner,
		SkiffVersion: j.Run.Version, Playbook: j.Run.Playbook,
		HostsChanged: append([]string{}, j.Hosts()...),
		RolledBack:   j.RolledBack(), RolledBackBy: append([]string{}, j.UndoneBy...),
	}
	if s.SkiffVersion == "" {
		s.SkiffVersion = version.Unknown
	}
	if o := j.Outcome; o != nil {
		ended := o.Ended.UTC()
		s.Ended = &ended
		s.HostsFailed = append([]string{}, o.Failed...)
	}
	return s
}

// runsOptions are skiff runs's: it reads only local files.
type runsOptions struct {
	inventory string
	output    output
}

func (o *runsOptions) finish([]string) error { return o.output.check() }

func parseRuns(args []string) (runsOptions, error) { return parseWith(defineRuns, args) }

func defineRuns(o *runsOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs -i INVENTORY [--output json]",
		Short: "List past runs: when, who, which skiff, hosts changed and failed, rolled back",
		Long: `runs lists the runs recorded in .skiff/runs/ beside the inventory, newest
first: id (what rollback --run takes), start time (UTC), operator
(user@machine), the skiff version that ran it, how many hosts it changed
and how many failed ("?" when it did not record its end: killed), and
whether its changes were rolled back (no, partly, yes; "-" when it changed
nothing). It reads only local files: no host is reached.

--output json prints {"runs": [...]} with each run's id, command, started,
ended, operator, skiff_version, playbook, hosts_changed, hosts_failed,
rolled_back and rolled_back_by.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVarP(&o.inventory, "inventory", "i", "", "inventory file (required; there is no default)")
	addOutput(f, &o.output)
	return cmd
}

func newRunsCmd(c *console) *cobra.Command {
	return command(defineRuns, func(_ context.Context, o runsOptions) error {
		ld, err := loadInventory(c, config.NewLoader(), o.inventory, "")
		if err != nil {
			return err
		}
		runs, err := journal.List(ld.runsDir())
		if err != nil {
			return err
		}
		out := []runSummary{}
		for _, j := range runs {
			out = append(out, summarize(j))
		}
		if o.output.json() {
			return jsondoc.WriteJSON(c.out, struct {
				Runs []runSummary `json:"runs"`
			}{out})
		}
		if len(out) == 0 {
			fmt.Fprintf(c.err, "No runs recorded in %s.\n", ld.runsDir())
			return nil
		}
		writeRunsText(c.out, out)
		return nil
	})
}

// writeRunsText prints runs as a table.
func writeRunsText(w io.Writer, runs []runSummary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTARTED (UTC)\tOPERATOR\tVERSION\tCHANGED\tFAILED\tROLLED BACK")
	for _, r := range runs {
		failed := "?"
		if r.Ended != nil {
			failed = fmt.Sprint(len(r.HostsFailed))
		}
		rolledBack := r.RolledBack
		if len(r.HostsChanged) == 0 {
			rolledBack = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Started.Format("2006-01-02 15:04:05"),
			r.Operator, r.SkiffVersion, len(r.HostsChanged), failed, rolledBack)
	}
	_ = tw.Flush() // to the terminal: nothing to do if it fails
}
