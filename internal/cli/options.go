package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiffdeploy/skiff/internal/config"
)

// options is a command's options value: finish completes it from the
// positional arguments and checks it, with no I/O.
type options interface {
	finish(args []string) error
}

// parseWith parses args with the flags and the positional-argument rule
// of the command define makes, into a new options value: what the command
// would run with, or the error it would stop on. It reaches nothing.
func parseWith[O any, P interface {
	*O
	options
}](define func(P) *cobra.Command, args []string) (O, error) {
	o := P(new(O))
	cmd := define(o)
	if err := cmd.ParseFlags(args); err != nil {
		return *o, err
	}
	rest := cmd.Flags().Args()
	if err := cmd.ValidateArgs(rest); err != nil {
		return *o, err
	}
	err := o.finish(rest)
	return *o, err
}

// command is the command define makes, running action with its options.
func command[O any, P interface {
	*O
	options
}](define func(P) *cobra.Command, action func(context.Context, O) error) *cobra.Command {
	o := P(new(O))
	cmd := define(o)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.finish(args); err != nil {
			return err
		}
		return action(cmd.Context(), *o)
	}
	return cmd
}

// output is --output: text, or one JSON document on stdout.
type output string

func (o output) json() bool { return o == "json" }

func (o output) check() error {
	if o != "text" && o != "json" {
		return fmt.Errorf("--output must be text or json, not %q", string(o))
	}
	return nil
}

func addOutput(f *pflag.FlagSet, o *output) {
	f.StringVarP((*string)(o), "output", "o", "text", "output format: text or json (one JSON document on stdout)")
}

// connOptions are how a command connects to hosts.
type connOptions struct {
	acceptNewKeys  bool
	connectTimeout time.Duration
	verbosity      int // -v 1, -vv 2: also trace what is done on each host
	askBecomePass  bool
}

// hostOptions are the options of every command that reaches hosts.
type hostOptions struct {
	inventory string
	limit     string
	output    output
	forks     int
	conn      connOptions
}

// addHostFlags registers the flags of the commands that reach hosts.
func addHostFlags(cmd *cobra.Command, o *hostOptions) {
	f := cmd.Flags()
	f.StringVarP(&o.inventory, "inventory", "i", "", "inventory file (required; there is no default)")
	f.StringVarP(&o.limit, "limit", "l", "", "hosts or groups, comma-separated; !name excludes (e.g. web,!web2)")
	addOutput(f, &o.output)
	f.IntVar(&o.forks, "forks", 50, "hosts worked on at once")
	f.BoolVar(&o.conn.acceptNewKeys, "accept-new-host-keys", false, "record unknown host keys in known_hosts (changed keys are still refused)")
	f.DurationVar(&o.conn.connectTimeout, "connect-timeout", 10*time.Second, "SSH connect and handshake timeout per host")
	f.CountVarP(&o.conn.verbosity, "verbose", "v", "-v prints every task, not only changes; -vv also each script sent to a host (secrets hidden) and the SSH connections")
	f.BoolVarP(&o.conn.askBecomePass, "ask-become-pass", "K", false, "ask once for the sudo password (no terminal: $"+becomePasswordEnv+")")
	completeHostFlags(cmd, &o.inventory)
}

func (o hostOptions) check() error { return o.output.check() }

// playbookOptions are the options of the commands that read a playbook.
type playbookOptions struct {
	hostOptions
	playbook  string
	noHelper  bool
	extra     []string // -e NAME=VALUE, in order
	varFiles  []string
	rolesPath []string
	tags      config.TagFilter // plan and apply: --tags, --skip-tags
}

// addPlaybookFlags registers the flags of the commands that read a playbook.
func addPlaybookFlags(cmd *cobra.Command, o *playbookOptions) {
	addHostFlags(cmd, &o.hostOptions)
	f := cmd.Flags()
	f.BoolVar(&o.noHelper, "no-probe-helper", false, "probe with sh alone: never copy skiff to hosts as a probe helper, nor use a copy there")
	f.StringArrayVarP(&o.extra, "extra-var", "e", nil, "NAME=VALUE variable, highest precedence (repeatable); VALUE is a string, or an HCL list, object or quoted string when it starts with [, { or \"; a name nothing of the run declares or reads is an error")
	f.StringArrayVar(&o.varFiles, "var-file", nil, "file of NAME = VALUE variables (HCL, or JSON when it ends in .json), below -e in precedence (repeatable; later files win)")
	f.StringArrayVar(&o.rolesPath, "roles-path", nil, "further folder to look for roles in (repeatable)")
	completePlaybookFlags(cmd)
}

// addTagFlags registers --tags and --skip-tags (plan and apply).
func addTagFlags(cmd *cobra.Command, o *playbookOptions) {
	f := cmd.Flags()
	f.StringSliceVar(&o.tags.Only, "tags", nil, "run only the tasks with one of these tags (comma-separated; a task has its own tags, its role's in the play and the play's); the handlers they notify run too")
	f.StringSliceVar(&o.tags.Skip, "skip-tags", nil, "never run the tasks with one of these tags (comma-separated; wins over --tags)")
}

// finish takes the playbook from args.
func (o *playbookOptions) finish(args []string) error {
	o.playbook = args[0]
	return o.check()
}
