// Package cli is skiff's command line: flags, loading, and wiring of the
// engine to SSH and the terminal. cmd/skiff only calls Main.
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
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/module/builtin"
	"github.com/skiffdeploy/skiff/internal/transport/trace"
	"github.com/skiffdeploy/skiff/internal/ui"
	"github.com/skiffdeploy/skiff/internal/version"
)

// exitError carries an exit code through cobra without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// globals are the flags every command shares.
type globals struct {
	inventory      string
	limit          string
	extra          []string
	forks          int
	output         string
	rolesPath      []string
	acceptNewKeys  bool
	connectTimeout time.Duration
	verbosity      int        // -v 1, -vv 2
	trace          *trace.Log // -vv: what skiff does on each host
	askBecomePass  bool
	noHelper       bool
	helperNoted    bool   // the run said it has no probe helper
	becomePass     string // read once by --ask-become-pass; never printed

	stdin          io.Reader
	stdout, stderr io.Writer
	varFiles       []string
	diags          []config.Diagnostic // printed so far, for --output json
	stdinTTY       bool
	stderrTTY      bool

	dial engine.Dialer // replaces SSH when set (tests)
}

// Main runs skiff with args (without the program name) and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// On a host, skiff is its own probe helper (see package hostprobe),
	// started once per probe batch: no command tree, no flags.
	if len(args) == 1 && args[0] == hostprobe.Subcommand {
		return hostprobe.Main(builtin.Answerers(), stdin, stdout, stderr)
	}
	out := &countingWriter{w: stdout}
	g := &globals{stdin: stdin, stdout: out, stderr: stderr,
		stdinTTY: isTerminal(stdin), stderrTTY: isTerminal(stderr)}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
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
	if code != 0 && out.n == 0 && wantsJSON(g, args) {
		doc := errorDoc{Error: "exit " + fmt.Sprint(code), Diagnostics: g.diags}
		if err != nil && !errors.As(err, &ee) {
			doc.Error = err.Error()
		} else if len(g.diags) > 0 {
			doc.Error = "configuration is not valid"
		}
		if doc.Diagnostics == nil {
			doc.Diagnostics = []config.Diagnostic{}
		}
		_ = ui.WriteJSON(out, doc)
	}
	return code
}

// errorDoc is the JSON document of a command that failed before printing
// its own.
type errorDoc struct {
	Error       string              `json:"error"`
	Diagnostics []config.Diagnostic `json:"diagnostics"`
}

// wantsJSON reports whether the command line asks for JSON output, also
// when the flags could not be parsed.
func wantsJSON(g *globals, args []string) bool {
	if g.output == "json" {
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

func newRoot(g *globals) *cobra.Command {
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
		newValidateCmd(g),
		newInventoryCmd(g),
		newPlanCmd(g),
		newApplyCmd(g),
		newExecCmd(g),
		newRollbackCmd(g),
		newRunsCmd(g),
		newLockCmd(g),
		newVersionCmd(g),
	)
	// --version prints what `skiff version` does.
	var v strings.Builder
	_ = writeVersion(&v, "text") // into a strings.Builder: cannot fail
	root.Version = version.String()
	root.SetVersionTemplate(v.String())
	root.Flags().Bool("version", false, "print skiff's version, commit and Go version (as skiff version)")
	return root
}

// addCommon registers the flags shared by commands that reach hosts.
func addCommon(cmd *cobra.Command, g *globals, withPlaybook bool) {
	f := cmd.Flags()
	defer completeCommon(cmd, g, withPlaybook)
	f.StringVarP(&g.inventory, "inventory", "i", "", "inventory file (required; there is no default)")
	f.StringVarP(&g.limit, "limit", "l", "", "hosts or groups, comma-separated; !name excludes (e.g. web,!web2)")
	f.StringVarP(&g.output, "output", "o", "text", "output format: text or json (one JSON document on stdout)")
	f.IntVar(&g.forks, "forks", 50, "hosts worked on at once")
	f.BoolVar(&g.acceptNewKeys, "accept-new-host-keys", false, "record unknown host keys in known_hosts (changed keys are still refused)")
	f.DurationVar(&g.connectTimeout, "connect-timeout", 10*time.Second, "SSH connect and handshake timeout per host")
	f.CountVarP(&g.verbosity, "verbose", "v", "-v prints every task, not only changes; -vv also each script sent to a host (secrets hidden) and the SSH connections")
	f.BoolVarP(&g.askBecomePass, "ask-become-pass", "K", false, "ask once for the sudo password (no terminal: $"+becomePasswordEnv+")")
	askBecomePassword(cmd, g)
	if withPlaybook {
		f.BoolVar(&g.noHelper, "no-probe-helper", false, "probe with sh alone: never copy skiff to hosts as a probe helper, nor use a copy there")
		f.StringArrayVarP(&g.extra, "extra-var", "e", nil, "NAME=VALUE variable, highest precedence (repeatable); VALUE is a string, or an HCL list, object or quoted string when it starts with [, { or \"; a name nothing of the run declares or reads is an error")
		f.StringArrayVar(&g.varFiles, "var-file", nil, "file of NAME = VALUE variables (HCL, or JSON when it ends in .json), below -e in precedence (repeatable; later files win)")
		f.StringArrayVar(&g.rolesPath, "roles-path", nil, "further folder to look for roles in (repeatable)")
	}
}

func (g *globals) checkOutput() error {
	if g.output != "text" && g.output != "json" {
		return fmt.Errorf("--output must be text or json, not %q", g.output)
	}
	return nil
}

// isTerminal reports whether x is a terminal. /dev/null is a character
// device too, and a run from cron or a systemd timer reads it: only a
// terminal's ioctl answers.
func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readLine reads one answer from r, trimmed.
func readLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b = append(b, one[0])
		}
		if err != nil {
			if len(b) == 0 {
				return "", err
			}
			break
		}
	}
	return strings.TrimSpace(string(b)), nil
}
