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
//
// Every change can be undone (module.Reversible): a created directory is
// removed with everything in it, and so are the missing parents that its
// creation made, but only those this change created (recorded on the host
// before it); a changed owner or mode is set back to the recorded one; a
// removed tree is saved first (tar, in the run's backup folder on the host,
// so it needs the space) and extracted back.
package directory

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Directory is one "directory" task.
type Directory struct {
	path   string
	meta   filestate.Meta
	absent bool

	change *module.Change // set by Check
	create bool
}

var (
	_ module.Module     = (*Directory)(nil)
	_ module.Reversible = (*Directory)(nil)
)

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
	// Every step acts from inside the directory it changes, entered one
	// component at a time (filestate.EnterScript): a symlink another user
	// planted on the way is refused, never followed by rm, chown or chmod.
	var b strings.Builder
	b.WriteString(filestate.EnterScript)
	fmt.Fprintf(&b, "p=%s\nparent=%s\nn=%s\n", shell.Quote(d.path), shell.Quote(path.Dir(d.path)), shell.Quote(path.Base(d.path)))
	what := "update directory " + d.path
	switch {
	case d.absent:
		what = "remove directory " + d.path
		b.WriteString("skiff_enter \"$parent\" || exit 1\n")
		b.WriteString("rm -rf -- \"./$n\" || exit 1\n")
	case d.create:
		what = "create directory " + d.path
		m := d.meta
		if !m.HasMode {
			m.Mode, m.HasMode = 0o755, true
		}
		b.WriteString("skiff_enter \"$parent\" create || exit 1\n")
		b.WriteString("[ -d \"./$n\" ] || (umask 077 && mkdir -- \"./$n\") || exit 1\n")
		b.WriteString("skiff_enter \"$p\" || exit 1\nq=.\n")
		b.WriteString(m.Script("q", true))
	default:
		b.WriteString("skiff_enter \"$p\" || exit 1\nq=.\n")
		b.WriteString(d.meta.Script("q", true))
	}
	return shell.Run(ctx, t, what, b.String(), nil)
}

// Names of what Reversal keeps in its backup folder.
const (
	backupCreated = "created"  // the top-most path the creation made
	backupMeta    = "meta"     // "mode uid gid" (stat -L -c '%a %u %g')
	backupTree    = "tree.tar" // the tree a removal deletes
	backupAbsent  = "absent"   // marker: nothing to remove at backup time
)

// Reversal implements module.Reversible for the change Check found.
func (d *Directory) Reversal(dir string) (backup, undo, after string) {
	switch {
	case d.change == nil:
		return "", "", ""
	case d.absent:
		backup, undo = d.treeReversal(dir)
	case d.create:
		backup, undo = d.createReversal(dir)
	default:
		backup, undo = d.metaReversal(dir)
	}
	return backup, undo, ""
}

// noBackup is the undo line for a backup folder without any record.
func noBackup(p, dir string) string {
	return fmt.Sprintf("  printf '%%s\\n' %s >&2; exit 1\n", shell.Quote("skiff: no backup of "+p+" in "+dir))
}

// createReversal: backup finds the top-most missing path among path and its
// parents (what mkdir -p creates) and records it; undo removes that tree,
// after checking that the record names path or one of its parents. A
// directory that exists by the time of the backup is not removed: its mode
// and owner, which Apply sets, are recorded and restored instead.
func (d *Directory) createReversal(dir string) (backup, undo string) {
	created := shell.Quote(path.Join(dir, backupCreated))
	var b strings.Builder
	fmt.Fprintf(&b, "c=%s\ntop=\n", shell.Quote(d.path))
	b.WriteString("while [ \"$c\" != / ] && [ ! -e \"$c\" ] && [ ! -L \"$c\" ]; do top=$c; c=$(dirname -- \"$c\"); done\n")
	fmt.Fprintf(&b, "if [ -n \"$top\" ]; then\n  printf '%%s\\n' \"$top\" > %s || exit 1\nelse\n  %sfi\n", created, d.metaBackup(dir))
	backup = b.String()

	// The paths mkdir -p may have created: path, then its parents up to "/".
	var candidates []string
	for p := d.path; p != "/" && p != "."; p = path.Dir(p) {
		candidates = append(candidates, shell.Quote(p))
	}
	b.Reset()
	b.WriteString(filestate.EnterScript)
	fmt.Fprintf(&b, "if [ -f %s ]; then\n", created)
	fmt.Fprintf(&b, "  top=$(cat %s) || exit 1\n", created)
	b.WriteString("  case $top in\n")
	fmt.Fprintf(&b, "  %s) skiff_enter \"$(dirname -- \"$top\")\" && rm -rf -- \"./$(basename -- \"$top\")\" || exit 1 ;;\n", strings.Join(candidates, "|"))
	fmt.Fprintf(&b, "  *) printf '%%s\\n' %s\"$top\"%s >&2; exit 1 ;;\n",
		shell.Quote("skiff: "+path.Join(dir, backupCreated)+" names "), shell.Quote(", which is not "+d.path+" or one of its parents"))
	b.WriteString("  esac\n")
	b.WriteString(d.metaUndo(dir, "elif"))
	return backup, b.String()
}

// metaReversal: backup records the mode and owner; undo sets them back.
func (d *Directory) metaReversal(dir string) (backup, undo string) {
	return d.metaBackup(dir), filestate.EnterScript + d.metaUndo(dir, "if")
}

// metaBackup is the line that records the directory's mode and owner (of
// the directory a symlink at path points to, as Check and Apply see it).
func (d *Directory) metaBackup(dir string) string {
	return fmt.Sprintf("stat -L -c '%%a %%u %%g' -- %s > %s || exit 1\n", shell.Quote(d.path), shell.Quote(path.Join(dir, backupMeta)))
}

// metaUndo is the branch (opened by kw, "if" or "elif"), through the final
// "fi", that restores the recorded mode and owner, or else fails for want
// of a record. setuid/setgid are cleared first: a numeric chmod keeps them
// on a directory.
func (d *Directory) metaUndo(dir, kw string) string {
	meta := shell.Quote(path.Join(dir, backupMeta))
	var b strings.Builder
	fmt.Fprintf(&b, "%s [ -f %s ]; then\n", kw, meta)
	fmt.Fprintf(&b, "  p=%s\n", shell.Quote(d.path))
	fmt.Fprintf(&b, "  read -r m u g < %s || exit 1\n", meta)
	b.WriteString("  skiff_enter \"$p\" && chown -- \"$u:$g\" . && chmod ug-s -- . && chmod -- \"$m\" . || exit 1\n")
	b.WriteString("else\n")
	b.WriteString(noBackup(d.path, dir))
	b.WriteString("fi\n")
	return b.String()
}

// treeReversal: backup archives the tree (tar, numeric owners) unless it
// is already gone; undo extracts it to a temporary folder beside path and
// renames it into place, or, when path exists (a removal cut short, or an
// undo run before), extracts only what is missing.
func (d *Directory) treeReversal(dir string) (backup, undo string) {
	tree, absent := shell.Quote(path.Join(dir, backupTree)), shell.Quote(path.Join(dir, backupAbsent))
	parent, base := path.Dir(d.path), path.Base(d.path)
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\n", shell.Quote(d.path))
	b.WriteString("if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then\n")
	// "./base": a member name that tar cannot take for an option.
	fmt.Fprintf(&b, "  tar -C %s --numeric-owner -cf %s %s || exit 1\n", shell.Quote(parent), tree, shell.Quote("./"+base))
	fmt.Fprintf(&b, "elif [ -L \"$p\" ] || [ -e \"$p\" ]; then\n  printf '%%s\\n' \"skiff: $p is not a directory: not backed up\" >&2; exit 1\nelse\n  : > %s || exit 1\nfi\n", absent)
	backup = b.String()

	b.Reset()
	b.WriteString(filestate.EnterScript)
	fmt.Fprintf(&b, "parent=%s\nn=%s\n", shell.Quote(parent), shell.Quote(base))
	fmt.Fprintf(&b, "if [ -f %s ]; then\n", tree)
	b.WriteString("  skiff_enter \"$parent\" create || exit 1\n")
	b.WriteString("  if [ -L \"./$n\" ] || [ -e \"./$n\" ]; then\n")
	fmt.Fprintf(&b, "    tar --numeric-owner --skip-old-files -xpf %s || exit 1\n", tree)
	b.WriteString("  else\n")
	b.WriteString("    skiff_private=\n    trap '[ -z \"$skiff_private\" ] || { cd .. && rm -rf -- \"./$skiff_private\"; }' EXIT\n    trap 'exit 1' HUP INT TERM\n")
	b.WriteString(filestate.PrivateScript(path.Base(filestate.TempPath(d.path))))
	fmt.Fprintf(&b, "    tar --numeric-owner -xpf %s && mv -T -- \"./$n\" \"../$n\" || exit 1\n", tree)
	b.WriteString("    cd .. && rmdir -- \"./$skiff_private\" && skiff_private= || exit 1\n")
	b.WriteString("  fi\n")
	fmt.Fprintf(&b, "elif [ ! -e %s ]; then\n", absent)
	b.WriteString(noBackup(d.path, dir))
	b.WriteString("fi\n")
	return backup, b.String()
}

// NativeProbe implements module.NativeProber: the helper prints Probe's
// stat lines in-process.
func (d *Directory) NativeProbe() (string, any, bool) {
	if d.path == "" {
		return "", nil, false
	}
	return filestate.NativeStat, filestate.StatQuery{Path: d.path, Follow: !d.absent}, true
}
