// Package sysctl is the "sysctl" task kind: a kernel parameter, set live
// (written to /proc/sys) and persisted as a "NAME = VALUE" line in a file
// under /etc/sysctl.d/, which systemd-sysctl applies at boot. The probe
// reads both; the file is edited as package fileedit does.
//
//	task "sysctl" "somaxconn" {
//	  name  = "net.core.somaxconn"
//	  value = 1024
//	}
package sysctl

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/fileedit"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// DefaultFile is the name, in Dir, of the file where parameters are
// persisted unless file says.
const DefaultFile = "99-skiff.conf"

// Dir is the folder persisted parameters' files must be in. Tests point
// it elsewhere.
var Dir = "/etc/sysctl.d"

// procRoot is where the kernel shows its parameters. Tests point it elsewhere.
var procRoot = "/proc/sys"

// namePattern: dot-separated components of letters, digits, '_' and '-'.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$`)

// Sysctl is one sysctl task.
type Sysctl struct {
	name, value string
	file        *fileedit.Edit

	// learned by Check, used by Apply
	live      string // the live value as read, "" when missing
	liveFound bool
	setLive   bool
	fileCh    bool
}

var (
	_ module.Module        = (*Sysctl)(nil)
	_ module.Reversible    = (*Sysctl)(nil)
	_ module.ContentWriter = (*Sysctl)(nil)
	_ module.NativeProber  = (*Sysctl)(nil)
)

// New is the module.Factory of the "sysctl" kind.
func New(a *module.Args) module.Module {
	a.RejectSensitive("name", "value", "file")
	s := &Sysctl{name: a.String("name", true), value: strings.TrimSpace(a.String("value", true))}
	if s.name != "" && !namePattern.MatchString(s.name) {
		a.Errorf("name", "%q is not a kernel parameter name such as \"net.core.somaxconn\" (dot-separated letters, digits, '_' and '-').", s.name)
		s.name = ""
	}
	switch {
	case a.Unknown("value"):
	case strings.ContainsAny(s.value, "\r\n\x00"):
		a.Errorf("value", "value must be one line.")
	case s.value == "" && a.Has("value"):
		a.Errorf("value", "value must not be empty.")
	}
	file := path.Join(Dir, DefaultFile)
	if a.Has("file") {
		file = filestate.PathArg(a, "file")
	}
	if file != "" && (path.Dir(file) != Dir || !strings.HasSuffix(file, ".conf")) {
		a.Errorf("file", "file must be a .conf file directly in %s (which systemd-sysctl reads at boot), not %q.", Dir, file)
		file = ""
	}
	if s.name == "" || file == "" {
		file = "" // nothing to probe or change
	}
	s.file = fileedit.New(fileedit.Spec{Kind: "sysctl", Path: file, Create: true}, s.edit)
	return s
}

// proc is the parameter's file under /proc/sys.
func (s *Sysctl) proc() string { return procRoot + "/" + strings.ReplaceAll(s.name, ".", "/") }

// sameValue compares values as the kernel prints them: fields separated
// by tabs or spaces.
func sameValue(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}

// setting parses a sysctl.d line that sets a parameter: "key = value",
// the key optionally prefixed by "-" (errors ignored), with '/' or '.'
// between components. ok is false for comments, blank and other lines.
func setting(line string) (key, value string, ok bool) {
	t := strings.TrimSpace(line)
	if t == "" || t[0] == '#' || t[0] == ';' {
		return "", "", false
	}
	k, v, ok := strings.Cut(t, "=")
	if !ok {
		return "", "", false
	}
	k = strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(k), "-"), "/", ".")
	return k, strings.TrimSpace(v), true
}

// edit makes the file's last line for the parameter (the one that counts)
// "NAME = VALUE", or adds it at the end. A line that already sets the
// value, however it is spaced, is left as it is.
func (s *Sysctl) edit(t *fileedit.Text) ([]string, error) {
	want := s.name + " = " + s.value
	for i := len(t.Lines) - 1; i >= 0; i-- {
		k, v, ok := setting(t.Lines[i].Text)
		if !ok || k != s.name {
			continue
		}
		if sameValue(v, s.value) {
			return nil, nil
		}
		t.Lines[i].Text = want
		return []string{fmt.Sprintf("replace line %d", i+1)}, nil
	}
	t.Insert(len(t.Lines), want)
	return []string{fmt.Sprintf("add line %d", len(t.Lines))}, nil
}

// Probe prints the live value ("sysctl_live=…", its lines joined by
// spaces; "sysctl_missing=1" when the kernel has no such parameter,
// "sysctl_unreadable=1" when it cannot be read), then the file's probe.
func (s *Sysctl) Probe() string {
	if s.name == "" {
		return ""
	}
	return liveScript(s.proc()) + s.file.Probe()
}

func liveScript(proc string) string {
	q := shell.Quote(proc)
	return fmt.Sprintf("if [ ! -e %s ]; then echo sysctl_missing=1\n"+
		"elif v=$(cat %s 2>/dev/null); then printf 'sysctl_live=%%s\\n' \"$(printf '%%s' \"$v\" | tr '\\n' ' ')\"\n"+
		"else echo sysctl_unreadable=1; fi\n", q, q)
}

// Check compares the live value and the persisted one with the wanted value.
func (s *Sysctl) Check(p module.Probed) (*module.Change, error) {
	s.setLive, s.fileCh = false, false
	fch, fields, err := s.file.CheckFields(p)
	if err != nil {
		return nil, err
	}
	var parts []string
	s.live, s.liveFound = fields["sysctl_live"], fields["sysctl_missing"] != "1"
	switch {
	case fields["sysctl_unreadable"] == "1":
		return nil, fmt.Errorf("%s: cannot read %s: the sysctl kind manages parameters it can read", s.name, s.proc())
	case !s.liveFound:
		s.setLive = true
		parts = append(parts, fmt.Sprintf("set live (%s not in the kernel yet)", s.name))
	case !sameValue(s.live, s.value):
		s.setLive = true
		parts = append(parts, fmt.Sprintf("live %s -> %s", strings.Join(strings.Fields(s.live), " "), s.value))
	}
	ch := &module.Change{Action: plan.Update}
	if fch != nil {
		s.fileCh = true
		parts = append(parts, fch.Summary)
		ch.Diff = fch.Diff
	}
	if len(parts) == 0 {
		return nil, nil
	}
	ch.Summary = fmt.Sprintf("%s = %s: %s", s.name, s.value, strings.Join(parts, "; "))
	return ch, nil
}

// Apply sets the live value first, so that a value the kernel refuses is
// never persisted, then edits the file. A kernel that keeps another value
// than the one written (clamped, rounded) is an error, not a change every
// run would repeat.
func (s *Sysctl) Apply(ctx context.Context, t transport.Transport) error {
	if s.setLive {
		res, err := shell.Output(ctx, t, "set "+s.name, setScript(s.proc(), s.name, s.value), nil)
		if err != nil {
			return err
		}
		if got := strings.TrimRight(string(res.Stdout), "\n"); !sameValue(got, s.value) {
			return fmt.Errorf("%s: the kernel keeps %q, not %q: nothing persisted", s.name, got, s.value)
		}
	}
	if s.fileCh {
		return s.file.Apply(ctx, t)
	}
	return nil
}

// setScript writes value to the parameter's file and prints it read back.
func setScript(proc, name, value string) string {
	q := shell.Quote(proc)
	var b strings.Builder
	fmt.Fprintf(&b, "[ -e %s ] || { printf '%%s\\n' %s >&2; exit 1; }\n", q, shell.Quote("skiff: the kernel has no parameter "+name))
	fmt.Fprintf(&b, "printf '%%s\\n' %s > %s || exit 1\n", shell.Quote(value), q)
	fmt.Fprintf(&b, "cat %s\n", q)
	return b.String()
}

// Written implements module.ContentWriter with the file's edit.
func (s *Sysctl) Written() ([]byte, string, bool) {
	if !s.fileCh {
		return nil, "", false
	}
	return s.file.Written()
}

// Reversal implements module.Reversible: the file as it was comes back,
// and the live value read just before the change is written back.
func (s *Sysctl) Reversal(dir string) (backup, undo, after string) {
	if s.name == "" {
		return "", "", ""
	}
	fileBackup, fileUndo, _ := s.file.Reversal(dir)
	saved, q := shell.Quote(path.Join(dir, "live")), shell.Quote(s.proc())
	backup = fileBackup + fmt.Sprintf("if [ -e %s ]; then cat %s > %s || exit 1; fi\n", q, q, saved)
	undo = fileUndo + fmt.Sprintf("if [ -s %s ] && [ -e %s ]; then cat %s > %s || exit 1; fi\n", saved, q, saved, q)
	return backup, undo, ""
}
