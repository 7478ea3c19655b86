// Package directory is the "directory" task kind.
//
//	task "directory" "data" {
//	  path  = "/srv/app"
//	  owner = "app"  group = "app"  mode = "0750"
//	  state = "present"     # or "absent": removes the whole tree
//	}
//
// present creates missing parents too (with default owner and mode; only
// path itself gets owner, group and mode). A symlink to a directory counts
// as that directory. absent refuses "/".
package directory

import (
	"context"
	"fmt"
	"strings"

	"skiff/internal/module"
	"skiff/internal/module/filestate"
	"skiff/internal/module/shell"
	"skiff/internal/plan"
	"skiff/internal/transport"
)

// Directory is one "directory" task.
type Directory struct {
	path   string
	meta   filestate.Meta
	absent bool

	change *module.Change // set by Check
	create bool
}

var _ module.Module = (*Directory)(nil)

// New is the module.Factory of the "directory" kind.
func New(a *module.Args) module.Module {
	d := &Directory{
		path:   filestate.PathArg(a, "path"),
		meta:   filestate.MetaArgs(a),
		absent: a.OneOf("state", "present", "present", "absent") == "absent",
	}
	if d.path == "/" {
		a.Errorf("path", "The directory task does not manage \"/\".")
		d.path = ""
	}
	return d
}

// Probe prints filestate's stat lines, following symlinks unless the tree
// is to be removed.
func (d *Directory) Probe() string {
	if d.path == "" {
		return ""
	}
	return filestate.StatScript(d.path, !d.absent)
}

// Check compares the directory with the wanted one.
func (d *Directory) Check(p module.Probed) (*module.Change, error) {
	d.change, d.create = nil, false
	if d.path == "" {
		return nil, fmt.Errorf("directory: no usable path")
	}
	st, err := filestate.ParseStat(shell.Fields(p.Stdout))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.path, err)
	}
	switch {
	case d.absent && st.Type == filestate.Absent:
		return nil, nil
	case d.absent && st.Type == filestate.Directory:
		d.change = &module.Change{Action: plan.Delete, Summary: "remove directory " + d.path + " and its contents"}
	case d.absent:
		return nil, fmt.Errorf("%s is %s, not a directory: the directory kind does not remove it", d.path, filestate.Describe(st.Type))
	case st.Type == filestate.Absent:
		d.create = true
		d.change = &module.Change{Action: plan.Create, Summary: "create directory " + d.path}
	case st.Type != filestate.Directory:
		return nil, fmt.Errorf("%s is %s, not a directory: remove it first or choose another path", d.path, filestate.Describe(st.Type))
	default:
		diff := d.meta.Diff(st)
		if len(diff) == 0 {
			return nil, nil
		}
		d.change = &module.Change{Action: plan.Update, Summary: "update directory " + d.path + ": " + strings.Join(diff, ", ")}
	}
	return d.change, nil
}

// Apply creates the directory and sets its owner and mode, or removes the tree.
func (d *Directory) Apply(ctx context.Context, t transport.Transport) error {
	if d.change == nil {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\n", shell.Quote(d.path))
	what := "update directory " + d.path
	switch {
	case d.absent:
		what = "remove directory " + d.path
		b.WriteString("rm -rf -- \"$p\" || exit 1\n")
	case d.create:
		what = "create directory " + d.path
		m := d.meta
		if !m.HasMode {
			m.Mode, m.HasMode = 0o755, true
		}
		b.WriteString("mkdir -p -- \"$p\" || exit 1\n")
		b.WriteString(m.Script("p", true))
	default:
		b.WriteString(d.meta.Script("p", true))
	}
	res, err := t.Run(ctx, b.String())
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return shell.NewRunError(what, res, nil)
	}
	return nil
}
