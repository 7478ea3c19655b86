// Package fileedit edits part of a text file on a host: the core of the
// line_in_file, block_in_file and sysctl kinds. The probe reads the file
// (type, owner, mode, sha256 and content, as the file kind's probe does);
// Check computes the new content in Go from what was read and shows a
// unified diff; Apply places it with filestate (uploaded, validated and
// renamed over the file, never following a link), and only while the file
// still has the digest the probe read, so an edit never overwrites a
// change made since. Undo puts the previous file back.
package fileedit

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Spec is the file an edit applies to.
type Spec struct {
	Kind string // the task kind, for messages
	Path string // absolute and clean
	filestate.Meta
	// Validate is a command with "%s" standing for the new file.
	Validate string
	// Create makes a missing file (mode 0644 unless Meta says) for the
	// edit; without it a missing file is an error at apply.
	Create bool
}

// EditFunc computes the wanted text from the file's current one (no lines
// when the file is missing). It returns what it changed, for the plan
// line ("replace line 3"); nothing when the text already is as wanted.
type EditFunc func(t *Text) ([]string, error)

// Edit is one file edit; it implements module.Module, Reversible,
// ContentWriter and NativeProber for the kinds built on it.
type Edit struct {
	Spec
	edit EditFunc

	// learned by Check, used by Apply
	st          filestate.Stat
	oldSHA      string // the content's sha256 as read ("" when missing)
	want        []byte
	writeNeeded bool
	metaNeeded  bool
	staleTemps  int
}

var (
	_ module.Module        = (*Edit)(nil)
	_ module.Reversible    = (*Edit)(nil)
	_ module.ContentWriter = (*Edit)(nil)
	_ module.NativeProber  = (*Edit)(nil)
)

// New returns the edit of s's file by f.
func New(s Spec, f EditFunc) *Edit { return &Edit{Spec: s, edit: f} }

// MaxSize is the largest file an edit reads: the probe sends it back whole.
const MaxSize = filestate.MaxDiffSize

// reader is the file kind's probe asked for the content of the file, which
// it sends whenever that differs from the empty content wanted here (an
// empty file is then known by its digest alone). Its native answerer is
// the file kind's.
func (e *Edit) reader() *filestate.File {
	return filestate.New(filestate.Spec{Path: e.Path, Known: true, DigestDir: DigestDir})
}

// DigestDir is where the probe keeps its digest records (see
// filestate.Spec.DigestDir); "" is the file kind's folder. Tests point it
// elsewhere.
var DigestDir = ""

// Probe reads the file; it changes nothing.
func (e *Edit) Probe() string {
	if e.Path == "" {
		return ""
	}
	return e.reader().Probe()
}

// NativeProbe implements module.NativeProber with the file kind's answerer.
func (e *Edit) NativeProbe() (string, any, bool) {
	if e.Path == "" {
		return "", nil, false
	}
	return e.reader().NativeProbe()
}

// contentMarker is the line before the base64 content in the file probe's output.
const contentMarker = "\n[content]\n"

var emptySHA = module.SHA256(nil)

// read parses the probe's output: the file's stat and, for a regular file,
// its content and sha256. Other lines (of a kind that prints more ahead
// of the file's) are in fields.
func (e *Edit) read(out []byte) (st filestate.Stat, content []byte, sha string, fields map[string]string, err error) {
	head, enc, hasContent := bytes.Cut(out, []byte(contentMarker))
	fields = shell.Fields(head)
	st, err = filestate.ParseStat(fields)
	if err != nil {
		return st, nil, "", fields, fmt.Errorf("%s: %w", e.Path, err)
	}
	switch st.Type {
	case filestate.Absent:
		return st, nil, "", fields, nil
	case filestate.Regular:
	default:
		return st, nil, "", fields, fmt.Errorf("%s is %s, not a regular file: %s edits only regular files", e.Path, filestate.Describe(st.Type), e.Kind)
	}
	sha = fields["sha256"]
	switch {
	case len(sha) != 64:
		return st, nil, "", fields, fmt.Errorf("%s: cannot read the file (probe printed sha256 %q)", e.Path, sha)
	case hasContent:
		content, err = base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(enc), nil)))
		if err != nil || module.SHA256(content) != sha {
			return st, nil, "", fields, fmt.Errorf("%s: the probe sent back content that does not match its sha256", e.Path)
		}
	case sha == emptySHA:
	case st.Size > MaxSize:
		return st, nil, "", fields, fmt.Errorf("%s is too large to edit (%d bytes; %s reads files up to %d KiB)", e.Path, st.Size, e.Kind, MaxSize/1024)
	default:
		return st, nil, "", fields, fmt.Errorf("%s: the probe did not send the file's content", e.Path)
	}
	if !filestate.IsText(content) {
		return st, nil, "", fields, fmt.Errorf("%s is not a text file (not UTF-8, or it holds NUL bytes): %s edits only text", e.Path, e.Kind)
	}
	return st, content, sha, fields, nil
}

// Check reads the probed file and computes the edit.
func (e *Edit) Check(p module.Probed) (*module.Change, error) {
	ch, _, err := e.CheckFields(p)
	return ch, err
}

// CheckFields is Check that also returns the probe's other key=value
// lines, for kinds that print more ahead of the file's probe.
func (e *Edit) CheckFields(p module.Probed) (*module.Change, map[string]string, error) {
	e.writeNeeded, e.metaNeeded, e.want = false, false, nil
	st, old, sha, fields, err := e.read(p.Stdout)
	if err != nil {
		return nil, fields, err
	}
	e.st, e.oldSHA = st, sha
	_, _ = fmt.Sscan(fields["stale_tmp"], &e.staleTemps)
	text := Parse(old)
	parts, err := e.edit(&text)
	if err != nil {
		return nil, fields, fmt.Errorf("%s: %w", e.Path, err)
	}
	e.want = text.Bytes()
	ch, err := e.change(st, old, parts)
	if err != nil || e.staleTemps == 0 {
		return ch, fields, err
	}
	note := fmt.Sprintf("remove %d temporary file(s) an interrupted run left beside %s", e.staleTemps, e.Path)
	if ch == nil {
		return &module.Change{Action: plan.Delete, Summary: note}, fields, nil
	}
	ch.Summary += "; " + note
	return ch, fields, nil
}

func (e *Edit) change(st filestate.Stat, old []byte, parts []string) (*module.Change, error) {
	if st.Type == filestate.Absent {
		if len(parts) == 0 {
			return nil, nil // nothing to remove from a missing file
		}
		e.writeNeeded = true
		if !e.Create {
			return &module.Change{Action: plan.Update, Summary: fmt.Sprintf("edit %s: %s (%s does not exist yet: an earlier task must create it, or set create = true)", e.Path, strings.Join(parts, ", "), e.Path),
				Diff: filestate.UnifiedDiff(e.Path, nil, e.want)}, nil
		}
		summary := "create " + e.Path + ": " + strings.Join(parts, ", ")
		if !st.ParentExists {
			summary += fmt.Sprintf(" (parent directory %s does not exist yet)", path.Dir(e.Path))
		}
		return &module.Change{Action: plan.Create, Summary: summary, Diff: filestate.UnifiedDiff(e.Path, nil, e.want)}, nil
	}
	ch := &module.Change{Action: plan.Update}
	if !bytes.Equal(old, e.want) {
		e.writeNeeded = true
		ch.Diff = filestate.UnifiedDiff(e.Path, old, e.want)
	} else {
		parts = nil // an edit that ends where it began
	}
	meta := e.Meta.Diff(st)
	if len(meta) > 0 && !e.writeNeeded {
		e.metaNeeded = true
	}
	parts = append(parts, meta...)
	if len(parts) == 0 {
		return nil, nil
	}
	ch.Summary = "update " + e.Path + ": " + strings.Join(parts, ", ")
	return ch, nil
}

// Written implements module.ContentWriter: a saved plan pins the edited
// content, so a file changed on the host since the plan is refused.
func (e *Edit) Written() ([]byte, string, bool) {
	if !e.writeNeeded {
		return nil, "", false
	}
	return e.want, "the " + e.Kind + " edit of " + e.Path, true
}

// ErrChanged is the error Apply returns when the file changed after the probe.
var ErrChanged = errors.New("the file changed since skiff read it: nothing was written; run again to edit the new content")

// Apply places the edited content (or, for an owner or mode fix alone,
// the same content with them) while the file still is as probed.
func (e *Edit) Apply(ctx context.Context, t transport.Transport) error {
	if e.staleTemps > 0 {
		if err := shell.Run(ctx, t, "remove stale temporary files beside "+e.Path, filestate.RemoveScript(e.Path, false, true), nil); err != nil {
			return err
		}
	}
	if !e.writeNeeded && !e.metaNeeded {
		return nil
	}
	expect, m := e.oldSHA, e.Meta
	if e.st.Type == filestate.Absent {
		if !e.Create {
			return fmt.Errorf("%s does not exist: %s edits an existing file unless create = true", e.Path, e.Kind)
		}
		if !e.st.ParentExists {
			return fmt.Errorf("%s: parent directory %s does not exist (create it with a directory task first)", e.Path, path.Dir(e.Path))
		}
		expect = filestate.ExpectAbsent
		if !m.HasMode {
			m.Mode, m.HasMode = 0o644, true
		}
	} else {
		if m.Owner == "" {
			m.Owner = e.st.UID
		}
		if m.Group == "" {
			m.Group = e.st.GID
		}
		if !m.HasMode {
			m.Mode, m.HasMode = e.st.Mode, true
		}
	}
	staged, err := filestate.Upload(ctx, t, e.want)
	if err != nil {
		return fmt.Errorf("upload %s: %w", e.Path, err)
	}
	res, err := shell.Output(ctx, t, "write "+e.Path, filestate.PlaceScript(filestate.Placement{
		Path: e.Path, Staged: staged, Meta: m, Validate: e.Validate, Expect: expect,
	}), nil)
	switch res.ExitCode {
	case filestate.ExitChanged:
		return fmt.Errorf("%s: %w", e.Path, ErrChanged)
	case filestate.ExitValidate:
		return fmt.Errorf("%s: validate %q rejected the new content, the file is unchanged: %s", e.Path, e.Validate, shell.Last(strings.TrimSpace(string(res.Stdout)), 2048))
	}
	return err
}

// Reversal implements module.Reversible: the file as it was (content,
// owner, mode) or its absence comes back.
func (e *Edit) Reversal(dir string) (backup, undo, after string) {
	if e.Path == "" {
		return "", "", ""
	}
	backup, undo = filestate.Reversal(e.Path, dir)
	return backup, undo, ""
}
