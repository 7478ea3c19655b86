// Package group is the "group" task kind (getent to read; groupadd, groupmod
// and groupdel to change).
//
//	task "group" "app" {
//	  name   = "app"
//	  gid    = 990        # optional
//	  system = true       # only used when creating
//	  state  = "present"  # or "absent"
//	}
//
// Changes can be undone (module.Reversible): the group's line is recorded
// on the host before the change; undo deletes a group the change created,
// sets a changed gid back, and recreates a removed group with its gid and
// members (not its gshadow password or administrators).
package group

import (
	"context"
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Group is one "group" task.
type Group struct {
	name   string
	gid    int
	hasGID bool
	system bool
	absent bool

	script string // set by Check: the command Apply runs
	what   string
}

var (
	_ module.Module     = (*Group)(nil)
	_ module.Reversible = (*Group)(nil)
)

// NameRE is what useradd and groupadd accept by default (Debian's
// NAME_REGEX, plus upper case and dots).
var NameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*\$?$`)

// unset is what a.Int returns for a gid that is absent, unknown or invalid.
const unset = math.MinInt

// New is the module.Factory of the "group" kind.
func New(a *module.Args) module.Module {
	g := &Group{
		name:   a.String("name", true),
		hasGID: a.Has("gid"),
		gid:    a.Int("gid", unset),
		system: a.Bool("system", false),
		absent: a.OneOf("state", "present", "present", "absent") == "absent",
	}
	a.RejectSensitive("name")
	if g.name != "" && !NameRE.MatchString(g.name) {
		a.Errorf("name", "%q is not a valid group name.", g.name)
		g.name = ""
	}
	if g.gid < 0 && g.gid != unset {
		a.Errorf("gid", "gid must not be negative.")
	}
	if g.gid < 0 {
		g.hasGID = false
	}
	return g
}

// Probe prints "group=<getent group line>", empty when the group is missing.
func (g *Group) Probe() string {
	if g.name == "" {
		return ""
	}
	return fmt.Sprintf("printf '%%s\\n' \"group=$(getent group %s 2>/dev/null)\"\n", shell.Quote(g.name))
}

// Check compares the group with the wanted one.
func (g *Group) Check(p module.Probed) (*module.Change, error) {
	g.script, g.what = "", ""
	f := shell.Fields(p.Stdout)
	line, ok := f["group"]
	if !ok {
		return nil, fmt.Errorf("group probe printed nothing (exit %d)", p.ExitCode)
	}
	exists := line != ""
	var gid string
	if exists {
		parts := strings.Split(line, ":")
		if len(parts) < 3 {
			return nil, fmt.Errorf("getent group %s printed %q", g.name, line)
		}
		gid = parts[2]
	}
	q := shell.Quote(g.name)
	switch {
	case g.absent && !exists:
		return nil, nil
	case g.absent:
		g.script, g.what = "groupdel "+q+"\n", "remove group "+g.name
		return &module.Change{Action: plan.Delete, Summary: g.what}, nil
	case !exists:
		args := ""
		if g.hasGID {
			args += " -g " + strconv.Itoa(g.gid)
		}
		if g.system {
			args += " -r"
		}
		g.script, g.what = "groupadd"+args+" "+q+"\n", "create group "+g.name
		return &module.Change{Action: plan.Create, Summary: g.what}, nil
	case g.hasGID && gid != strconv.Itoa(g.gid):
		g.script = fmt.Sprintf("groupmod -g %d %s\n", g.gid, q)
		g.what = fmt.Sprintf("update group %s: gid %s -> %d", g.name, gid, g.gid)
		return &module.Change{Action: plan.Update, Summary: g.what}, nil
	}
	return nil, nil
}

// Apply runs the command Check chose.
func (g *Group) Apply(ctx context.Context, t transport.Transport) error {
	if g.script == "" {
		return nil
	}
	return shell.Run(ctx, t, g.what, g.script, nil)
}

// Names of what Reversal keeps in its backup folder.
const (
	backupLine   = "group"  // the group's getent line
	backupAbsent = "absent" // marker: there was no such group
)

// Reversal implements module.Reversible for the command Check chose.
func (g *Group) Reversal(dir string) (backup, undo, after string) {
	if g.script == "" {
		return "", "", ""
	}
	line, absent := shell.Quote(path.Join(dir, backupLine)), shell.Quote(path.Join(dir, backupAbsent))
	n := shell.Quote(g.name)
	backup = fmt.Sprintf("if l=$(getent group %s); then printf '%%s\\n' \"$l\" > %s || exit 1; else : > %s || exit 1; fi\n", n, line, absent)

	var b strings.Builder
	fmt.Fprintf(&b, "n=%s\n", n)
	fmt.Fprintf(&b, "if [ -f %s ]; then\n", line)
	fmt.Fprintf(&b, "  IFS=: read -r _ _ gid members < %s || exit 1\n", line)
	b.WriteString("  if l=$(getent group \"$n\"); then\n")
	b.WriteString("    [ \"$(printf '%s\\n' \"$l\" | cut -d: -f3)\" = \"$gid\" ] || groupmod -g \"$gid\" \"$n\" || exit 1\n")
	b.WriteString("  else\n")
	b.WriteString("    groupadd -g \"$gid\" \"$n\" || exit 1\n")
	b.WriteString("    if [ -n \"$members\" ]; then gpasswd -M \"$members\" \"$n\" >/dev/null || exit 1; fi\n")
	b.WriteString("  fi\n")
	fmt.Fprintf(&b, "elif [ -e %s ]; then\n", absent)
	b.WriteString("  if getent group \"$n\" >/dev/null; then groupdel \"$n\" || exit 1; fi\n")
	b.WriteString("else\n")
	fmt.Fprintf(&b, "  printf '%%s\\n' %s >&2; exit 1\n", shell.Quote("skiff: no saved group "+g.name+" in "+dir))
	b.WriteString("fi\n")
	return backup, b.String(), ""
}
