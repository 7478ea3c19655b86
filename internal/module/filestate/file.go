package filestate

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Spec is a regular file as the file and template kinds want it.
type Spec struct {
	Path string // absolute and clean
	// Content is the wanted content; Known is false when it could not be
	// computed yet (validate mode), and then Probe/Check do not compare it.
	Content []byte
	Known   bool
	// Source says where Content comes from, for messages: a local path,
	// or a description of an inline argument; never a value.
	Source string
	// Sensitive content is never sent back by the probe nor shown in a diff
	// or in validate's output.
	Sensitive bool
	Meta
	// Validate is a command with "%s" standing for the temporary file; it
	// must exit 0 before the file replaces the live one.
	Validate string
	Absent   bool // state = "absent": remove the file
	// DigestDir is where the host keeps digest records (see
	// digestrecord.go); "" is DefaultDigestDir.
	DigestDir string
}

// File manages one regular file: it implements module.Module for the file
// and template kinds.
type File struct {
	Spec

	// learned by Check, used by Apply
	st          Stat
	writeNeeded bool // content differs: upload, validate, rename
	metaNeeded  bool // only owner/mode differ
	staleTemps  int  // temporary files a killed run left beside the file
}

var (
	_ module.Module        = (*File)(nil)
	_ module.Reversible    = (*File)(nil)
	_ module.ContentWriter = (*File)(nil)
)

// New returns the module for s.
func New(s Spec) *File { return &File{Spec: s} }

const (
	contentMarker = "[content]"
	// exitValidate is what the apply script exits with when validate fails.
	exitValidate = 97
	// exitNoParent: the parent directory is missing.
	exitNoParent = 98
)

func (f *File) wantSHA() string {
	return module.SHA256(f.Content) // remembered for shared local files
}

// Probe prints StatScript's lines (not following symlinks) and, for a
// regular file, "sha256=…"; then, when that differs from the wanted sha256
// and the file is small and not sensitive, a "[content]" line followed by
// the file in base64 up to the end of the output.
func (f *File) Probe() string {
	if f.Path == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(statScript(f.Path, false, true))
	// Temporaries of an upload that a killed run never renamed.
	fmt.Fprintf(&b, "n=0; for x in %s.*.tmp; do { [ -e \"$x\" ] || [ -L \"$x\" ]; } && n=$((n+1)); done; echo \"stale_tmp=$n\"\n", shell.Quote(stalePrefix(f.Path)))
	if f.Absent {
		return b.String()
	}
	b.WriteString("if [ \"$t\" = file ]; then\n")
	b.WriteString(f.digestScript())
	if f.Known && !f.Sensitive {
		fmt.Fprintf(&b, "  if [ -n \"$s\" ] && [ \"$s\" != %s ] && [ \"$sz\" -le %d ] 2>/dev/null; then echo %s; base64 <\"$p\"; fi\n",
			shell.Quote(f.wantSHA()), MaxDiffSize, shell.Quote(contentMarker))
	}
	b.WriteString("fi\n")
	return b.String()
}

// Check compares the probed file with the spec.
func (f *File) Check(p module.Probed) (*module.Change, error) {
	f.writeNeeded, f.metaNeeded, f.staleTemps = false, false, 0
	head, content, hasContent := bytes.Cut(p.Stdout, []byte("\n"+contentMarker+"\n"))
	fields := shell.Fields(head)
	st, err := ParseStat(fields)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	f.st = st
	_, _ = fmt.Sscan(fields["stale_tmp"], &f.staleTemps) // absent (an older probe): 0
	ch, err := f.check(st, fields, content, hasContent)
	if err != nil || f.staleTemps == 0 {
		return ch, err
	}
	note := fmt.Sprintf("remove %d temporary file(s) an interrupted run left beside %s", f.staleTemps, f.Path)
	if ch == nil {
		return &module.Change{Action: plan.Delete, Summary: note}, nil
	}
	ch.Summary += "; " + note
	return ch, nil
}

// Written returns the content Apply uploads, when the last Check found
// that it differs from the host's.
func (f *File) Written() ([]byte, string, bool) {
	if !f.writeNeeded {
		return nil, "", false
	}
	return f.Content, f.Source, true
}

// stalePrefix is the glob prefix of TempPath's names for p (quoted apart
// from the glob suffix the caller adds).
func stalePrefix(p string) string { return path.Join(path.Dir(p), ".skiff-"+path.Base(p)) }

func (f *File) check(st Stat, fields map[string]string, content []byte, hasContent bool) (*module.Change, error) {
	if f.Absent {
		switch st.Type {
		case Absent:
			return nil, nil
		case Regular, Symlink:
			return &module.Change{Action: plan.Delete, Summary: "remove " + f.Path}, nil
		default:
			return nil, fmt.Errorf("%s is %s, not a file: the file kind does not remove it", f.Path, Describe(st.Type))
		}
	}
	if !f.Known {
		return nil, fmt.Errorf("%s: the wanted content is not known", f.Path)
	}

	switch st.Type {
	case Absent:
		f.writeNeeded = true
		ch := &module.Change{Action: plan.Create, Summary: "create " + f.Path, Sensitive: f.Sensitive}
		if !st.ParentExists {
			ch.Summary += fmt.Sprintf(" (parent directory %s does not exist yet)", path.Dir(f.Path))
		}
		switch {
		case f.Sensitive:
			ch.Summary += " (content sensitive)"
		case !IsText(f.Content):
			ch.Summary += " (binary content)"
		case len(f.Content) > MaxDiffSize:
			ch.Summary += " (too large to diff)"
		default:
			ch.Diff = UnifiedDiff(f.Path, nil, f.Content)
		}
		return ch, nil
	case Regular:
	default:
		return nil, fmt.Errorf("%s is %s, not a regular file: remove it first or choose another path", f.Path, Describe(st.Type))
	}

	sha, ok := fields["sha256"]
	if !ok || len(sha) != 64 {
		return nil, fmt.Errorf("%s: cannot read the file's sha256 (probe printed %q)", f.Path, sha)
	}
	var parts []string
	ch := &module.Change{Action: plan.Update, Sensitive: f.Sensitive}
	if sha != f.wantSHA() {
		f.writeNeeded = true
		switch {
		case f.Sensitive:
			parts = append(parts, "content (sensitive)")
		case !IsText(f.Content):
			parts = append(parts, "content (binary)")
		case !hasContent || len(f.Content) > MaxDiffSize:
			parts = append(parts, "content (too large to diff)")
		default:
			old, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(content), nil)))
			if err != nil {
				return nil, fmt.Errorf("%s: probe printed bad base64 content: %w", f.Path, err)
			}
			if IsText(old) {
				parts = append(parts, "content")
				ch.Diff = UnifiedDiff(f.Path, old, f.Content)
			} else {
				parts = append(parts, "content (binary on host)")
			}
		}
	}
	meta := f.Meta.Diff(st)
	if len(meta) > 0 && !f.writeNeeded {
		f.metaNeeded = true
	}
	parts = append(parts, meta...)
	if len(parts) == 0 {
		return nil, nil
	}
	ch.Summary = "update " + f.Path + ": " + strings.Join(parts, ", ")
	return ch, nil
}

// Apply removes the file, or places the wanted content with the wanted
// owner and mode (see place.go): uploaded to the host's staging folder,
// moved into a private folder beside the file, validated there, and
// renamed over the file. The live file is untouched until the rename. An
// owner or mode fix alone places the content anew too: chown or chmod on
// the live path could follow a symlink swapped in since the probe.
func (f *File) Apply(ctx context.Context, t transport.Transport) error {
	if f.staleTemps > 0 || f.Absent {
		what := "remove stale temporary files beside " + f.Path
		if f.Absent {
			what = "remove " + f.Path
		}
		if err := shell.Run(ctx, t, what, RemoveScript(f.Path, f.Absent, f.staleTemps > 0), nil); err != nil {
			return err
		}
	}
	if f.Absent || (!f.writeNeeded && !f.metaNeeded) {
		return nil
	}
	dir := path.Dir(f.Path)
	if !f.st.ParentExists {
		// The engine re-probes after earlier changes, but check once more
		// rather than let the placement fail with a less clear error.
		res, err := t.Run(ctx, fmt.Sprintf("[ -d %s ] || exit %d\n", shell.Quote(dir), exitNoParent))
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return f.noParent(dir)
		}
	}

	// The final owner and mode: as wanted, else as the file has them now.
	m := f.Meta
	if f.st.Type == Regular {
		if m.Owner == "" {
			m.Owner = f.st.UID
		}
		if m.Group == "" {
			m.Group = f.st.GID
		}
		if !m.HasMode {
			m.Mode, m.HasMode = f.st.Mode, true
		}
	} else if !m.HasMode {
		m.Mode, m.HasMode = 0o644, true
	}

	staged, err := upload(ctx, t, f.Content)
	if err != nil {
		return fmt.Errorf("upload %s: %w", f.Path, err)
	}
	res, err := shell.Output(ctx, t, "write "+f.Path, PlaceScript(Placement{Path: f.Path, Staged: staged, Meta: m, Validate: f.Validate}), nil)
	if res.ExitCode == exitValidate {
		out := strings.TrimSpace(string(res.Stdout))
		if f.Sensitive {
			out = "(output withheld: the content is sensitive)"
		} else {
			out = shell.Last(out, 2048)
		}
		return fmt.Errorf("%s: validate %q rejected the new content, the file is unchanged: %s", f.Path, f.Validate, out)
	}
	return err
}

// upload writes content to a fresh file in StagingDir (0600 before any
// byte lands), making the folder (root-only) when it is missing, and
// returns the file's path.
func upload(ctx context.Context, t transport.Transport, content []byte) (string, error) {
	staged := StagedPath()
	err := t.WriteFile(ctx, staged, bytes.NewReader(content), 0o600)
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		if err := shell.Run(ctx, t, "make "+StagingDir, fmt.Sprintf("umask 077\nmkdir -p -- %s\n", shell.Quote(StagingDir)), nil); err != nil {
			return "", err
		}
		err = t.WriteFile(ctx, staged, bytes.NewReader(content), 0o600)
	}
	return staged, err
}

func (f *File) noParent(dir string) error {
	return fmt.Errorf("%s: parent directory %s does not exist (create it with a directory task first)", f.Path, dir)
}
