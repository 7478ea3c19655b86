// Package symlink is the "symlink" task kind.
//
//	task "symlink" "site" {
//	  path   = "/etc/nginx/sites-enabled/foobar.conf"
//	  target = "/etc/nginx/sites-available/foobar.conf"
//	  state  = "present"     # or "absent"
//	}
//
// The target is written as given (it may be relative, and need not exist).
// A symlink pointing elsewhere is replaced atomically; anything at path
// that is not a symlink is an error, never overwritten.
//
// Every change can be undone (module.Reversible): the link as it was (a
// copy of it, `cp -a`) or its absence is recorded on the host before the
// change, and undo renames a copy back into place (mv -T, atomic) or
// removes the link.
package symlink

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

// Symlink is one "symlink" task.
type Symlink struct {
	path, target string
	absent       bool

	change *module.Change // set by Check
}

var (
	_ module.Module     = (*Symlink)(nil)
	_ module.Reversible = (*Symlink)(nil)
)

// New is the module.Factory of the "symlink" kind.
func New(a *module.Args) module.Module {
	s := &Symlink{
		path:   filestate.PathArg(a, "path"),
		absent: a.OneOf("state", "present", "present", "absent") == "absent",
	}
	a.RejectSensitive("target")
	s.target = a.String("target", !s.absent)
	if s.target == "" && !s.absent && a.Has("target") && !a.Unknown("target") {
		a.Errorf("target", "target must not be empty.")
	}
	if strings.ContainsAny(s.target, "\n\x00") {
		a.Errorf("target", "target must not contain a newline or NUL.")
	}
	if s.path == "/" {
		a.Errorf("path", "The symlink task does not manage \"/\".")
		s.path = ""
	}
	return s
}

// Probe prints filestate's stat lines without following the link.
func (s *Symlink) Probe() string {
	if s.path == "" {
		return ""
	}
	return filestate.StatScript(s.path, false)
}

// Check compares the link with the wanted one.
func (s *Symlink) Check(p module.Probed) (*module.Change, error) {
	s.change = nil
	if s.path == "" {
		return nil, fmt.Errorf("symlink: no usable path")
	}
	st, err := filestate.ParseStat(shell.Fields(p.Stdout))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	switch {
	case st.Type == filestate.Absent && s.absent:
		return nil, nil
	case st.Type != filestate.Absent && st.Type != filestate.Symlink:
		return nil, fmt.Errorf("%s is %s, not a symbolic link: remove it first or choose another path", s.path, filestate.Describe(st.Type))
	case s.absent:
		s.change = &module.Change{Action: plan.Delete, Summary: fmt.Sprintf("remove link %s -> %s", s.path, st.LinkTarget)}
	case st.Type == filestate.Absent:
		s.change = &module.Change{Action: plan.Create, Summary: fmt.Sprintf("link %s -> %s", s.path, s.target)}
		if !st.ParentExists {
			s.change.Summary += " (parent directory does not exist yet)"
		}
	case st.LinkTarget != s.target:
		s.change = &module.Change{Action: plan.Update, Summary: fmt.Sprintf("relink %s -> %s (was -> %s)", s.path, s.target, st.LinkTarget)}
	default:
		return nil, nil
	}
	return s.change, nil
}

// Apply creates the link under a temporary name beside path, then renames it
// over path (mv -T: atomic, and never descends into a directory at path).
func (s *Symlink) Apply(ctx context.Context, t transport.Transport) error {
	if s.change == nil {
		return nil
	}
	// From inside the link's directory, entered one component at a time
	// (filestate.EnterScript): a symlink planted above path never leads
	// the change elsewhere.
	var b strings.Builder
	b.WriteString(filestate.EnterScript)
	fmt.Fprintf(&b, "skiff_enter %s || exit 1\nn=%s\n", shell.Quote(path.Dir(s.path)), shell.Quote(path.Base(s.path)))
	if s.absent {
		b.WriteString("if [ -L \"./$n\" ]; then rm -f -- \"./$n\" || exit 1; fi\n")
	} else {
		fmt.Fprintf(&b, "t=%s\n", shell.Quote("./"+path.Base(filestate.TempPath(s.path))))
		b.WriteString("trap 'rm -f -- \"$t\"' EXIT\ntrap 'exit 1' HUP INT TERM\n")
		fmt.Fprintf(&b, "ln -s -- %s \"$t\" || exit 1\n", shell.Quote(s.target))
		b.WriteString("mv -f -T -- \"$t\" \"./$n\" || exit 1\ntrap - EXIT\n")
	}
	return shell.Run(ctx, t, s.change.Summary, b.String(), nil)
}

// Reversal implements module.Reversible with filestate.Reversal, which
// saves and restores a symlink as a symlink.
func (s *Symlink) Reversal(dir string) (backup, undo, after string) {
	if s.change == nil {
		return "", "", ""
	}
	backup, undo = filestate.Reversal(s.path, dir)
	return backup, undo, ""
}

// NativeProbe implements module.NativeProber: the helper prints Probe's
// stat lines in-process.
func (s *Symlink) NativeProbe() (string, any, bool) {
	if s.path == "" {
		return "", nil, false
	}
	return filestate.NativeStat, filestate.StatQuery{Path: s.path}, true
}
