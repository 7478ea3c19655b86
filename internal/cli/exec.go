package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/ui"
)

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

func newExecCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec -i INVENTORY [--limit SEL] -- COMMAND...",
		Short: "Run an ad-hoc shell command on many hosts at once",
		Long: `exec runs COMMAND with sh on every selected host in parallel (as root when
the host's become is set) and prints each host's output. The command is
sent on stdin, so it does not show in the remote process list.
Exit 1 when any host fails or is unreachable.`,
		Example: `  skiff exec -i inventory.hcl --limit web -- systemctl is-active nginx`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.checkOutput(); err != nil {
				return err
			}
			ld, err := g.loadInventory(config.NewLoader())
			if err != nil {
				return err
			}
			hosts := ld.limit
			if hosts == nil {
				hosts = ld.inv.Hosts
			}
			script := strings.Join(args, " ")
			dial := g.dialer()
			results := make([]execHost, len(hosts))
			parallel.Each(len(hosts), g.forks, func(i int) {
				h := hosts[i]
				r := execHost{Name: h.Name}
				t, err := dial(cmd.Context(), h)
				if err == nil {
					var res transport.Result
					res, err = t.Run(cmd.Context(), script)
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
			failed := false
			for _, r := range results {
				failed = failed || r.Status != plan.StatusOK
			}
			if g.output == "json" {
				_ = ui.WriteJSON(g.stdout, struct {
					RunID string     `json:"run_id"`
					Mode  string     `json:"mode"`
					Hosts []execHost `json:"hosts"`
				}{engine.NewRunID(), "exec", results})
			} else {
				for _, r := range results {
					if r.ExitCode != nil {
						fmt.Fprintf(g.stdout, "%s | %s | rc=%d\n", r.Name, r.Status, *r.ExitCode)
					} else {
						fmt.Fprintf(g.stdout, "%s | %s\n", r.Name, r.Status)
					}
					if r.Error != "" {
						fmt.Fprintf(g.stdout, "  %s\n", r.Error)
					}
					for _, s := range []string{r.Stdout, r.Stderr} {
						if s = strings.TrimRight(s, "\n"); s != "" {
							fmt.Fprintf(g.stdout, "  %s\n", strings.ReplaceAll(s, "\n", "\n  "))
						}
					}
				}
			}
			if failed {
				return exitError{1}
			}
			return nil
		},
	}
	addCommon(cmd, g, false)
	return cmd
}
