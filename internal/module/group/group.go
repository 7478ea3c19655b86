// Package group is the "group" task kind (getent to read; groupadd, groupmod
// and groupdel to change).
//
//	task "group" "app" {
//	  name   = "app"
//	  gid    = 990        # optional
//	  system = true       # only used when creating
//	  state  = "present"  # or "absent"
//	}
package group

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"skiff/internal/module"
	"skiff/internal/module/shell"
	"skiff/internal/plan"
	"skiff/internal/transport"
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

var _ module.Module = (*Group)(nil)

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
	return fmt.Sprintf("echo \"group=$(getent group %s 2>/dev/null)\"\n", shell.Quote(g.name))
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
	res, err := t.Run(ctx, g.script)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return shell.NewRunError(g.what, res, nil)
	}
	return nil
}
