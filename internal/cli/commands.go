package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"skiff/internal/config"
	"skiff/internal/engine"
	"skiff/internal/plan"
	"skiff/internal/ui"
)

func newValidateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate -i INVENTORY PLAYBOOK",
		Short: "Check inventory, playbook, roles and templates without connecting",
		Long: `validate decodes the inventory, the playbook and every role it uses, and
evaluates every task for every host it would run on (facts, which need a
connection, are left unknown). Problems are printed as
  file:line,col: error: message
with the offending source line. Exit 1 on any error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ld, err := g.load(args[0])
			if err != nil {
				return err
			}
			tasks := 0
			for _, r := range ld.book.Roles {
				tasks += len(r.Tasks)
			}
			fmt.Fprintf(g.stdout, "%s and %s are valid: %d host(s), %d play(s), %d role(s), %d task(s)\n",
				g.inventory, args[0], len(ld.inv.Hosts), len(ld.book.Plays), len(ld.book.Roles), tasks)
			return nil
		},
	}
	addCommon(cmd, g, true)
	return cmd
}

func newInventoryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory -i INVENTORY [--limit SEL]",
		Short: "List hosts, their addresses, users and groups",
		Args:  cobra.NoArgs,
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
			if g.output == "json" {
				type jh struct {
					Name    string   `json:"name"`
					Address string   `json:"address"`
					User    string   `json:"user"`
					Port    int      `json:"port"`
					Become  bool     `json:"become"`
					Bastion string   `json:"bastion,omitempty"`
					Groups  []string `json:"groups"`
				}
				doc := struct {
					Hosts  []jh                `json:"hosts"`
					Groups map[string][]string `json:"groups"`
				}{Groups: map[string][]string{}}
				for _, h := range hosts {
					doc.Hosts = append(doc.Hosts, jh{h.Name, h.Address, h.Conn.User, h.Conn.Port, h.Conn.Become, h.Conn.Bastion, h.Groups})
					for _, gr := range h.Groups {
						doc.Groups[gr] = append(doc.Groups[gr], h.Name)
					}
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}
			fmt.Fprintf(g.stdout, "%-16s %-18s %-10s %-5s %s\n", "HOST", "ADDRESS", "USER", "PORT", "GROUPS")
			for _, h := range hosts {
				fmt.Fprintf(g.stdout, "%-16s %-18s %-10s %-5d %s\n", h.Name, h.Address, h.Conn.User, h.Conn.Port, strings.Join(h.Groups, ","))
			}
			return nil
		},
	}
	addCommon(cmd, g, false)
	return cmd
}

func newPlanCmd(g *globals) *cobra.Command {
	var detailed bool
	cmd := &cobra.Command{
		Use:   "plan -i INVENTORY PLAYBOOK",
		Short: "Show what apply would change, with diffs; changes nothing",
		Long: `plan connects to every host, reads its state in one batched round trip per
play, and prints per host and task what apply would do:
  + create   ~ update   - delete   ! run (commands, service operations)
with unified diffs for files and templates. Secrets show as (sensitive).
plan only reads: it never changes a host.

With --detailed-exitcode: exit 0 when nothing would change, 2 when something
would, 1 on any error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ld, err := g.load(args[0])
			if err != nil {
				return err
			}
			p := g.run(cmd.Context(), ld, engine.Plan)
			g.report(p)
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
	return cmd
}

func newApplyCmd(g *globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "apply -i INVENTORY PLAYBOOK [--yes]",
		Short: "Converge hosts to the playbook",
		Long: `apply checks every task (as plan does) and makes the changes, in order,
host by host in parallel. Handlers run once at the end of a play on hosts
where a task notified them. A failing host stops; the others go on; the
recap and the exit code (1) say so.

On a terminal, apply first shows the plan and asks. Without a terminal it
needs --yes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes && !g.stdinTTY {
				return fmt.Errorf("apply changes hosts and there is no terminal to ask on: pass --yes")
			}
			ld, err := g.load(args[0])
			if err != nil {
				return err
			}
			if !yes {
				p := g.run(cmd.Context(), ld, engine.Plan)
				plan.WriteText(g.stderr, p)
				if p.Failed() {
					plan.WriteRecap(g.stderr, p)
					return exitError{1}
				}
				if !p.HasChanges() {
					fmt.Fprintln(g.stderr, "No changes: the hosts match the playbook.")
					if g.output == "json" {
						p.Mode = string(engine.Apply)
						return plan.WriteJSON(g.stdout, p)
					}
					return nil
				}
				fmt.Fprint(g.stderr, "\nApply these changes? Only 'yes' is accepted: ")
				answer, _ := bufio.NewReader(g.stdin).ReadString('\n')
				if strings.TrimSpace(answer) != "yes" {
					fmt.Fprintln(g.stderr, "Apply cancelled.")
					return exitError{1}
				}
				ld.engine.RunID = engine.NewRunID()
			}
			p := g.run(cmd.Context(), ld, engine.Apply)
			g.report(p)
			if p.Failed() {
				return exitError{1}
			}
			return nil
		},
	}
	addCommon(cmd, g, true)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking")
	return cmd
}

// run executes the engine with progress on stderr.
func (g *globals) run(ctx context.Context, ld *loaded, mode engine.Mode) *plan.Plan {
	progress := ui.NewProgress(g.stderr, g.stderrTTY, g.verbose)
	ld.engine.Observer = progress
	ld.engine.Dial = g.dialer()
	p := ld.engine.Run(ctx, mode)
	progress.Close()
	return p
}

// report prints the result: JSON on stdout, or text and a recap.
func (g *globals) report(p *plan.Plan) {
	if g.output == "json" {
		if err := plan.WriteJSON(g.stdout, p); err != nil {
			fmt.Fprintf(os.Stderr, "skiff: writing JSON: %v\n", err)
		}
		plan.WriteRecap(g.stderr, p)
		return
	}
	plan.WriteText(g.stdout, p)
	plan.WriteRecap(g.stdout, p)
}
