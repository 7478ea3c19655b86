// Package command is the "command" task kind: a shell command run as root.
//
//	task "command" "init_db" {
//	  command = "mysql < /root/init.sql"   # run with sh
//	  creates = "/var/lib/app/.initialised"  # skip when this path exists
//	  removes = "/tmp/pending"               # skip when this path is missing
//	  unless  = "mysql -e 'use app'"         # skip when this exits 0
//	  chdir   = "/srv/app"
//	  env     = { MYSQL_PWD = secret.mysql_root_password }
//	  undo    = "mysql -e 'DROP DATABASE app'"   # how a rollback undoes it
//	}
//
// Without creates, removes or unless the command runs on every apply: it is
// then not idempotent, and every plan lists it. unless runs during the probe,
// on plans too, so it must only read. Relative creates/removes paths are
// taken from chdir. env values (secrets included) are exported inside the
// script, which travels on stdin, never on a command line; the command gets
// /dev/null as stdin.
//
// With become_user the command, unless and undo run as that user (sudo -u
// from the root shell), in that user's home unless chdir says otherwise,
// with env exported in that user's shell.
//
// A command can be undone (module.Reversible) only when the task says how:
// undo is a command that a rollback runs, like command, with sh, as root,
// with chdir and env. It is stored in clear in the run's journal, so it
// must not derive from a secret, and it cannot be given with an env (or a
// chdir) that does: an undo that needs a secret reads it on the host (a
// root-only file written by a file task, say). It must be safe to run
// twice, and whether or not the command ran to its end. Without undo the
// command cannot be undone: Reversal returns three empty fragments.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Command is one "command" task.
type Command struct {
	command, creates, removes, unless, chdir string
	undo                                     string // "" when the command cannot be undone
	env                                      map[string]string
	sensitive                                bool     // some argument derives from a secret
	secrets                                  []string // their values, scrubbed from errors
	// opaque: the command text itself holds a secret, whose exact value is
	// unknown (marks cover the whole string), so its output is withheld.
	opaque bool
	// user, when set, is who the command (and unless, and undo) runs as
	// (become_user); "" is root.
	user string

	run bool // set by Check
}

var (
	_ module.Module     = (*Command)(nil)
	_ module.Reversible = (*Command)(nil)
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var argNames = []string{"command", "creates", "removes", "unless", "chdir", "env"}

// New is the module.Factory of the "command" kind.
func New(a *module.Args) module.Module {
	c := &Command{
		command: a.String("command", true),
		creates: a.String("creates", false),
		removes: a.String("removes", false),
		unless:  a.String("unless", false),
		chdir:   a.String("chdir", false),
		env:     a.StringMap("env"),
		user:    a.BecomeUser(),
	}
	if c.command == "" && a.Has("command") && !a.Unknown("command") {
		a.Errorf("command", "command must not be empty.")
	}
	for k := range c.env {
		if !envName.MatchString(k) {
			a.Errorf("env", "%q is not a valid environment variable name.", k)
		}
	}
	for _, n := range argNames {
		if a.Sensitive(n) {
			c.sensitive = true
		}
	}
	c.secrets = a.SecretStrings(argNames...)
	c.opaque = a.Sensitive("command")

	a.RejectSensitive("undo")
	c.undo = a.String("undo", false)
	if a.Has("undo") && !a.Unknown("undo") && strings.TrimSpace(c.undo) == "" {
		a.Errorf("undo", "undo must not be empty: leave it out when the command cannot be undone.")
	}
	if c.undo != "" {
		for _, n := range []string{"env", "chdir"} {
			if a.Sensitive(n) {
				a.Errorf("undo", "undo cannot be given with a %s that derives from a secret: the undo is stored in clear in the run's journal, with its %s. Have the undo read the secret on the host instead.", n, n)
			}
		}
	}
	return c
}

// prelude exports env and enters chdir, running onNoChdir when it cannot.
func (c *Command) prelude(onNoChdir string) string {
	var b strings.Builder
	keys := make([]string, 0, len(c.env))
	for k := range c.env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s; export %s\n", k, shell.Quote(c.env[k]), k)
	}
	if c.chdir != "" {
		fmt.Fprintf(&b, "cd %s 2>/dev/null || { %s; }\n", shell.Quote(c.chdir), onNoChdir)
	}
	return b.String()
}

// Probe prints "skip=creates", "skip=removes", "skip=unless", "run", or
// "run=nochdir" when chdir does not exist (yet).
func (c *Command) Probe() string {
	if c.creates == "" && c.removes == "" && c.unless == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(c.prelude("echo run=nochdir; exit 0"))
	if c.creates != "" {
		fmt.Fprintf(&b, "if [ -e %s ]; then echo skip=creates; exit 0; fi\n", shell.Quote(c.creates))
	}
	if c.removes != "" {
		fmt.Fprintf(&b, "if [ ! -e %s ]; then echo skip=removes; exit 0; fi\n", shell.Quote(c.removes))
	}
	if c.unless != "" {
		// eval in a subshell: a syntax error or an exit fails only unless.
		fmt.Fprintf(&b, "if %s </dev/null >/dev/null 2>&1; then echo skip=unless; exit 0; fi\n", c.asUser(fmt.Sprintf("( eval %s ) </dev/null", shell.Quote(c.unless)), "exit 125"))
	}
	b.WriteString("echo run\n")
	return b.String()
}

// Check decides whether the command runs.
func (c *Command) Check(p module.Probed) (*module.Change, error) {
	c.run = false
	if c.creates != "" || c.removes != "" || c.unless != "" {
		first, _, _ := strings.Cut(string(p.Stdout), "\n")
		switch {
		case strings.HasPrefix(first, "skip="):
			return nil, nil
		case first == "run" || strings.HasPrefix(first, "run="):
		default:
			return nil, fmt.Errorf("command probe printed %q (exit %d)", shell.Scrub(strings.TrimSpace(string(p.Stdout)), c.secrets), p.ExitCode)
		}
	}
	c.run = true
	ch := &module.Change{Action: plan.Run, Summary: c.summary(), Sensitive: c.sensitive}
	if bytes.HasPrefix(p.Stdout, []byte("run=nochdir")) && !c.sensitive {
		ch.Summary += " (in " + c.chdir + ", which does not exist yet)"
	}
	return ch, nil
}

func (c *Command) summary() string {
	as := ""
	if c.user != "" {
		as = " (as " + c.user + ")"
	}
	if c.sensitive {
		return secret.Redacted + as
	}
	return c.command + as
}

// Apply runs the command; a non-zero exit is an error quoting the end of its
// output, secrets scrubbed.
func (c *Command) Apply(ctx context.Context, t transport.Transport) error {
	if !c.run {
		return nil
	}
	noChdir := fmt.Sprintf("printf '%%s\\n' %s >&2; exit 125", shell.Quote("skiff: chdir "+c.chdir+" does not exist"))
	script := c.prelude(noChdir) + c.asUser(fmt.Sprintf("( eval %s ) </dev/null", shell.Quote(c.command)), noChdir) + "\n"
	err := shell.Run(ctx, t, "command "+c.summary(), script, c.secrets)
	var e *shell.RunError
	if errors.As(err, &e) && c.opaque {
		e.Output = "(output withheld: the command is sensitive)"
	}
	return err
}

// Reversal implements module.Reversible: undo runs the task's undo command
// as Apply runs the command (env exported, in chdir, stdin /dev/null); all
// three fragments are empty, the change irreversible, without one.
func (c *Command) Reversal(dir string) (backup, undo, after string) {
	if c.undo == "" {
		return "", "", ""
	}
	noChdir := fmt.Sprintf("printf '%%s\\n' %s >&2; exit 125", shell.Quote("skiff: chdir "+c.chdir+" does not exist"))
	return "", c.prelude(noChdir) + c.asUser(fmt.Sprintf("( eval %s ) </dev/null", shell.Quote(c.undo)), noChdir) + "\n", ""
}

// asUser is run (one line), which follows the prelude, as it runs: as root, or as
// the task's user, in a shell of that user's that exports env and enters
// chdir first (sudo resets the environment, and the user's shell starts
// in its home), running onNoChdir when it cannot.
func (c *Command) asUser(run, onNoChdir string) string {
	if c.user == "" {
		return run
	}
	return shell.AsUser(c.user, c.prelude(onNoChdir)+run)
}
