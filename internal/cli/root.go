// Package cli is skiff's command line. Each command is three layers: its
// flags parse into an options value of its own (parseApply, parsePlan, …:
// a pure function of the arguments), an action runs with those options on
// the invocation's console (its stdin, stdout, stderr and terminal), and
// a view renders the result as text or as one JSON document. Loading the
// files and reaching hosts over SSH are the actions' helpers. cmd/skiff
// only calls Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/jsondoc"
	"github.com/skiffdeploy/skiff/internal/module/builtin"
	"github.com/skiffdeploy/skiff/internal/version"
)

// exitError carries an exit code through cobra without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Main runs skiff with args (without the program name) and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// On a host, skiff is its own probe helper (see package hostprobe),
	// started once per probe batch: no command tree, no flags.
	if len(args) == 1 && args[0] == hostprobe.Subcommand {
		return hostprobe.Main(builtin.Answerers(), stdin, stdout, stderr)
	}
	out := &countingWriter{w: stdout}
	c := newConsole(stdin, out, stderr)
	root := newRoot(c, nil)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, err := root.ExecuteContextC(ctx)
	var ee exitError
	code := 0
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		fmt.Fprintf(stderr, "skiff: %v\n", err)
		code = 1
	}
	// Under --output json a failure that printed no document (bad input,
	// a config error) still prints one: the error and the diagnostics.
	if code != 0 && out.n == 0 && wantsJSON(cmd, args) {
		doc := errorDoc{Error: "exit " + fmt.Sprint(code), Diagnostics: c.printed()}
		if err != nil && !errors.As(err, &ee) {
			doc.Error = err.Error()
		} else if len(doc.Diagnostics) > 0 {
			doc.Error = "configuration is not valid"
		}
		_ = jsondoc.WriteJSON(out, doc)
	}
	return code
}

// errorDoc is the JSON document of a command that failed before printing
// its own.
type errorDoc struct {
	Error       string              `json:"error"`
	Diagnostics []config.Diagnostic `json:"diagnostics"`
}

// wantsJSON reports whether the command line asks for JSON output: cmd's
// --output as parsed, or, when the flags could not be parsed, as written.
func wantsJSON(cmd *cobra.Command, args []string) bool {
	if f := cmd.Flags().Lookup("output"); f != nil && f.Value.String() == "json" {
		return true
	}
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == "-ojson" || a == "--output=json" || a == "-o=json" ||
			(a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json" {
			return true
		}
	}
	return false
}

// countingWriter counts what was written, to know whether a command
// printed its document.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// newRoot is skiff's command tree, on console c; dial, when set, replaces
// SSH (tests).
func newRoot(c *console, dial engine.Dialer) *cobra.Command {
	root := &cobra.Command{
		Use:   "skiff",
		Short: "Push deployer: converge Linux servers over SSH from HCL files",
		Long: `skiff installs, configures and upgrades servers over SSH, from HCL files:
an inventory (-i) lists the hosts; a playbook lists plays, each applying
roles (ordered tasks) to a group of hosts, in parallel.

  skiff validate -i inventory.hcl playbooks/site.hcl    check everything, offline
  skiff plan     -i inventory.hcl playbooks/site.hcl    what would change, with diffs
  skiff apply    -i inventory.hcl playbooks/site.hcl    converge (asks first on a terminal)

Nothing reaches a host without -i: there is no default inventory.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// skiff completion bash|zsh|fish|powershell prints a completion script.
	root.CompletionOptions.HiddenDefaultCmd = false
	root.AddCommand(
		newValidateCmd(c),
		newInventoryCmd(c),
		newPlanCmd(c, dial),
		newApplyCmd(c, dial),
		newExecCmd(c, dial),
		newRollbackCmd(c, dial),
		newRunsCmd(c),
		newLockCmd(c, dial),
		newVersionCmd(c),
	)
	// --version prints what `skiff version` does.
	var v strings.Builder
	_ = writeVersion(&v, "text") // into a strings.Builder: cannot fail
	root.Version = version.String()
	root.SetVersionTemplate(v.String())
	root.Flags().Bool("version", false, "print skiff's version, commit and Go version (as skiff version)")
	return root
}
