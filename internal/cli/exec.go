package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/jsondoc"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// execOptions are skiff exec's.
type execOptions struct {
	hostOptions
	script string // the command, its words joined by spaces
}

func parseExec(args []string) (execOptions, error) { return parseWith(defineExec, args) }

func (o *execOptions) finish(args []string) error {
	o.script = strings.Join(args, " ")
	return o.check()
}

func defineExec(o *execOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec -i INVENTORY [--limit SEL] -- COMMAND...",
		Short: "Run an ad-hoc shell command on many hosts at once",
		Long: `exec runs COMMAND with sh on every selected host in parallel (as root when
the host's become is set) and prints each host's output. The command is
sent on stdin, so it does not show in the remote process list.
Exit 1 when any host fails or is unreachable.`,
		Example: `  skiff exec -i inventory.hcl --limit web -- systemctl is-active nginx`,
		Args:    cobra.MinimumNArgs(1),
	}
	addHostFlags(cmd, &o.hostOptions)
	return cmd
}

func newExecCmd(c *console, dial engine.Dialer) *cobra.Command {
	return command(defineExec, func(ctx context.Context, o execOptions) error {
		r, err := newReach(c, o.conn, dial)
		if err != nil {
			return err
		}
		ld, err := loadHosts(c, o.hostOptions)
		if err != nil {
			return err
		}
		results := execOn(ctx, ld.hosts(), o.forks, r.dialer(), o.script)
		if o.output.json() {
			_ = jsondoc.WriteJSON(c.out, execDoc{engine.NewRunID(), "exec", results})
		} else {
			writeExecText(c.out, results)
		}
		for _, r := range results {
			if r.Status != plan.StatusOK {
				return exitError{1}
			}
		}
		return nil
	})
}

// execHost is one host's result of `skiff exec`.
type execHost struct {
	Name   string      `json:"name"`
	Status plan.Status `json:"status"`
	// ExitCode is the command's; null when it did not run (the host
	// unreachable, the session lost).
	ExitCode *int   `json:"exit_code"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	Error    string `json:"error,omitempty"`
}

// execDoc is exec's JSON document.
type execDoc struct {
	RunID string     `json:"run_id"`
	Mode  string     `json:"mode"`
	Hosts []execHost `json:"hosts"`
}

// execOn runs script on every host, at most forks at once, in host order.
func execOn(ctx context.Context, hosts []*inventory.Host, forks int, dial engine.Dialer, script string) []execHost {
	results := make([]execHost, len(hosts))
	parallel.Each(len(hosts), forks, func(i int) {
		h := hosts[i]
		r := execHost{Name: h.Name}
		t, err := dial(ctx, h)
		if err == nil {
			var res transport.Result
			res, err = t.Run(ctx, script)
			t.Close()
			if err == nil {
				r.ExitCode = &res.ExitCode
			}
			r.Stdout, r.Stderr = string(res.Stdout), string(res.Stderr)
		}
		switch {
		case err != nil:
			r.Status, r.Error = plan.StatusOf(err), err.Error()
		case *r.ExitCode != 0:
			r.Status = plan.StatusFailed
		default:
			r.Status = plan.StatusOK
		}
		results[i] = r
	})
	return results
}

// writeExecText prints each host's status, exit code and output.
func writeExecText(w io.Writer, results []execHost) {
	for _, r := range results {
		if r.ExitCode != nil {
			fmt.Fprintf(w, "%s | %s | rc=%d\n", r.Name, r.Status, *r.ExitCode)
		} else {
			fmt.Fprintf(w, "%s | %s\n", r.Name, r.Status)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "  %s\n", r.Error)
		}
		for _, s := range []string{r.Stdout, r.Stderr} {
			if s = strings.TrimRight(s, "\n"); s != "" {
				fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(s, "\n", "\n  "))
			}
		}
	}
}
