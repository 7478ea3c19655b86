package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/jsondoc"
)

// validateOptions are skiff validate's.
type validateOptions struct{ playbookOptions }

func parseValidate(args []string) (validateOptions, error) { return parseWith(defineValidate, args) }

func defineValidate(o *validateOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate -i INVENTORY PLAYBOOK",
		Short: "Check inventory, playbook, roles and templates without connecting",
		Long: `validate decodes the inventory, the playbook and every role it uses, and
evaluates every task for every host it would run on (facts, which need a
connection, are left unknown). Problems are printed as
  file:line:col: error: message
with the offending source line. Exit 1 on any error.`,
		Args: cobra.ExactArgs(1),
	}
	addPlaybookFlags(cmd, &o.playbookOptions)
	return cmd
}

func newValidateCmd(c *console) *cobra.Command {
	return command(defineValidate, func(_ context.Context, o validateOptions) error {
		// -K is read as by the commands that reach hosts, so that a setup
		// with no password to give fails here as it would there.
		if _, err := newReach(c, o.conn, nil); err != nil {
			return err
		}
		ld, err := loadOffline(c, o.playbookOptions)
		if err != nil {
			return err
		}
		v := validateView{Mode: "validate", Valid: true, Hosts: len(ld.inv.Hosts), Plays: len(ld.book.Plays),
			Roles: len(ld.book.Roles), Diagnostics: c.printed()}
		for _, r := range ld.book.Roles {
			v.Tasks += len(r.Tasks)
		}
		if o.output.json() {
			return jsondoc.WriteJSON(c.out, v)
		}
		_, err = fmt.Fprintf(c.out, "%s and %s are valid: %d host(s), %d play(s), %d role(s), %d task(s)\n",
			o.inventory, o.playbook, v.Hosts, v.Plays, v.Roles, v.Tasks)
		return err
	})
}

// validateView is what validate found, as its JSON document shows it.
type validateView struct {
	Mode        string              `json:"mode"`
	Valid       bool                `json:"valid"`
	Hosts       int                 `json:"hosts"`
	Plays       int                 `json:"plays"`
	Roles       int                 `json:"roles"`
	Tasks       int                 `json:"tasks"`
	Diagnostics []config.Diagnostic `json:"diagnostics"`
}
