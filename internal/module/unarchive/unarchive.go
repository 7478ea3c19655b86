// Package unarchive is the "unarchive" task kind: a folder on the host
// that holds exactly what an archive (tar.gz, tar.xz or zip) holds. The
// archive is a file of the operator's machine, uploaded, or a file on the
// host. The task is idempotent by the archive's digest: after extracting,
// skiff records on the host (in a root-only folder, see RecordDir) the
// archive's sha256 and how it was extracted; a later run whose record
// matches extracts nothing.
//
//	task "unarchive" "app" {
//	  source           = "app-1.4.tar.gz"   # roles/NAME/files/
//	  path             = "/opt/app/1.4"
//	  strip_components = 1
//	}
package unarchive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// RecordDir is the root-only folder on each host where skiff records what
// it extracted where: one file per folder, named from the folder's path,
// holding "sha256=SUM strip=N owner=OWNER:GROUP PATH". Tests point it
// elsewhere.
var RecordDir = "/var/lib/skiff/unarchive"

// digestDir is where the host keeps the file kind's digest records for a
// remote_source ("": filestate's default). Tests point it elsewhere.
var digestDir = ""

// Formats, and the programs the host needs to extract them.
const (
	TarGz = "tar.gz"
	TarXz = "tar.xz"
	Zip   = "zip"
)

var tools = map[string][]string{TarGz: {"tar", "gzip"}, TarXz: {"tar", "xz"}, Zip: {"unzip"}}

// Unarchive is one unarchive task.
type Unarchive struct {
	path          string
	format        string
	strip         int
	owner, group  string
	local         []byte // source's content; nil for remote_source
	localName     string // source's local path, for messages
	remote        *filestate.File
	known         bool   // the archive (or its path) is known
	archiveSHA256 string // source's digest; remote_source's, learned by Check ("" while it is missing)

	changed bool // the last Check found a change
}

var (
	_ module.Module        = (*Unarchive)(nil)
	_ module.Reversible    = (*Unarchive)(nil)
	_ module.ContentWriter = (*Unarchive)(nil)
	_ module.NativeProber  = (*Unarchive)(nil)
)

// New is the module.Factory of the "unarchive" kind.
func New(a *module.Args) module.Module {
	a.RejectSensitive("source", "remote_source", "format", "owner", "group")
	u := &Unarchive{path: filestate.PathArg(a, "path")}
	if u.path == "/" {
		a.Errorf("path", "path must not be /.")
		u.path = ""
	}
	u.strip = a.Int("strip_components", 0)
	if u.strip < 0 {
		a.Errorf("strip_components", "strip_components must be 0 or more.")
	}
	u.owner, u.group = a.String("owner", false), a.String("group", false)
	for n, v := range map[string]string{"owner": u.owner, "group": u.group} {
		if strings.ContainsAny(v, ": \t\n") {
			a.Errorf(n, "%q is not a valid %s name.", v, n)
		}
	}
	name := ""
	switch hasSrc, hasRemote := a.Has("source"), a.Has("remote_source"); {
	case hasSrc && hasRemote:
		a.Errorf("remote_source", "Give either source (a file of this machine) or remote_source (a file on the host), not both.")
	case hasSrc:
		src := a.String("source", true)
		if src != "" && !a.Unknown("source") {
			u.localName = src
			if !filepath.IsAbs(src) {
				u.localName = filepath.Join(a.RoleDir, "files", src)
			}
			b, err := a.ReadLocal(u.localName)
			if err != nil {
				a.Errorf("source", "Cannot read the archive %s: %s.", u.localName, err)
			} else {
				u.local, u.known, u.archiveSHA256 = b, true, module.SHA256(b)
			}
			name = src
		}
	case hasRemote:
		p := filestate.PathArg(a, "remote_source")
		u.remote = filestate.New(filestate.Spec{Path: p, DigestDir: digestDir})
		u.known, name = p != "", p
	default:
		a.Errorf("source", "Give the archive: source (a file of this machine: the role's files/ folder or an absolute path) or remote_source (a file on the host).")
	}
	u.format = a.String("format", false)
	switch {
	case a.Unknown("format") || (name == "" && u.format == ""):
	case u.format == "":
		if u.format = formatOf(name); u.format == "" {
			a.Errorf("source", "Cannot tell the format of %s from its name: say format = \"tar.gz\", \"tar.xz\" or \"zip\".", name)
		}
	case tools[u.format] == nil:
		a.Errorf("format", "format must be \"tar.gz\", \"tar.xz\" or \"zip\", not %q.", u.format)
		u.format = ""
	}
	if u.format == "" {
		u.known = false
	}
	return u
}

// formatOf tells an archive's format from its name.
func formatOf(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return TarGz
	case strings.HasSuffix(n, ".tar.xz"), strings.HasSuffix(n, ".txz"):
		return TarXz
	case strings.HasSuffix(n, ".zip"):
		return Zip
	}
	return ""
}

// recordPath is where the host keeps the record for the folder.
func (u *Unarchive) recordPath() string {
	sum := sha256.Sum256([]byte(u.path))
	return path.Join(RecordDir, hex.EncodeToString(sum[:16]))
}

// stamp is the record of the archive with digest sum extracted as the
// task says.
func (u *Unarchive) stamp(sum string) string {
	return fmt.Sprintf("sha256=%s strip=%d owner=%s %s", sum, u.strip, filestate.Chown(u.owner, u.group), u.path)
}

func (u *Unarchive) source() string {
	if u.remote != nil {
		return u.remote.Path
	}
	return u.localName
}

// Probe prints, for a remote_source, the file probe's lines (type, stat,
// sha256); then the folder's type ("dest=…"), "dest_empty=1" for an empty
// folder, "dest_parent=1" when its parent exists, the host's record for
// it ("record=…") and the programs the format needs that the host lacks
// ("missing_tools=…").
func (u *Unarchive) Probe() string {
	if u.path == "" || !u.known {
		return ""
	}
	var b strings.Builder
	if u.remote != nil {
		b.WriteString(u.remote.Probe())
	}
	fmt.Fprintf(&b, "d=%s\n", shell.Quote(u.path))
	b.WriteString(`if [ -L "$d" ]; then dt=symlink; elif [ -d "$d" ]; then dt=directory; elif [ -e "$d" ]; then dt=other; else dt=absent; fi` + "\n")
	b.WriteString("echo \"dest=$dt\"\n")
	b.WriteString("if [ \"$dt\" = directory ] && [ -z \"$(ls -A -- \"$d\" 2>/dev/null)\" ]; then echo dest_empty=1; fi\n")
	fmt.Fprintf(&b, "if [ -d %s ]; then echo dest_parent=1; fi\n", shell.Quote(path.Dir(u.path)))
	fmt.Fprintf(&b, "if [ -f %s ] && read -r rl < %s; then printf 'record=%%s\\n' \"$rl\"; fi\n", shell.Quote(u.recordPath()), shell.Quote(u.recordPath()))
	fmt.Fprintf(&b, "m=; for x in %s; do command -v \"$x\" >/dev/null 2>&1 || m=\"$m $x\"; done; [ -z \"$m\" ] || echo \"missing_tools=${m# }\"\n", strings.Join(tools[u.format], " "))
	return b.String()
}

// Check compares the host's record for the folder with the archive.
func (u *Unarchive) Check(p module.Probed) (*module.Change, error) {
	ch, err := u.check(p)
	u.changed = ch != nil && err == nil
	return ch, err
}

// Written implements module.ContentWriter: a source's archive, which a
// saved plan pins.
func (u *Unarchive) Written() ([]byte, string, bool) {
	if !u.changed || u.remote != nil || u.local == nil {
		return nil, "", false
	}
	return u.local, u.localName, true
}

func (u *Unarchive) check(p module.Probed) (*module.Change, error) {
	if u.path == "" || !u.known {
		return nil, fmt.Errorf("%s: the archive is not known", u.path)
	}
	f := shell.Fields(p.Stdout)
	if m := f["missing_tools"]; m != "" {
		return nil, fmt.Errorf("%s: the host lacks %s, needed to extract a %s archive: install it in an earlier play", u.path, m, u.format)
	}
	sum, pending := u.archiveSHA256, ""
	if u.remote != nil {
		u.archiveSHA256 = ""
		st, err := filestate.ParseStat(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u.remote.Path, err)
		}
		switch st.Type {
		case filestate.Regular:
			if sum = f["sha256"]; len(sum) != 64 {
				return nil, fmt.Errorf("%s: cannot read the archive's sha256 (probe printed %q)", u.remote.Path, sum)
			}
			u.archiveSHA256 = sum
		case filestate.Absent:
			// An earlier task of the play may put it there.
			sum, pending = "", " (the archive is not on the host yet)"
		default:
			return nil, fmt.Errorf("remote_source %s is %s, not a regular file", u.remote.Path, filestate.Describe(st.Type))
		}
	}
	record := f["record"]
	if sum != "" && record == u.stamp(sum) && f["dest"] == "directory" {
		return nil, nil
	}
	what := fmt.Sprintf("extract %s into %s", u.source(), u.path)
	if sum != "" {
		what += " (sha256 " + sum[:12] + ")"
	}
	switch f["dest"] {
	case "absent":
		s := what + pending
		if f["dest_parent"] != "1" {
			s += fmt.Sprintf(" (parent directory %s does not exist yet: made)", path.Dir(u.path))
		}
		return &module.Change{Action: plan.Create, Summary: s}, nil
	case "directory":
	case "":
		return nil, fmt.Errorf("%s: the probe printed no folder type", u.path)
	default:
		return nil, fmt.Errorf("%s is %s, not a folder: unarchive does not replace it", u.path, filestate.Describe(map[string]string{"symlink": filestate.Symlink, "other": filestate.Other}[f["dest"]]))
	}
	switch {
	case record != "":
		old := strings.TrimPrefix(strings.Fields(record)[0], "sha256=")
		if len(old) > 12 {
			old = old[:12]
		}
		return &module.Change{Action: plan.Update, Summary: fmt.Sprintf("%s, replacing the folder's content (extracted from sha256 %s)%s", what, old, pending)}, nil
	case f["dest_empty"] == "1":
		return &module.Change{Action: plan.Update, Summary: what + " (an empty folder)" + pending}, nil
	}
	return nil, fmt.Errorf("%s holds files skiff did not extract: unarchive replaces a folder's whole content, so it takes only a new or empty folder, or one it extracted before", u.path)
}

// Apply stages the archive in skiff's root-only staging folder (uploaded,
// or copied from remote_source) and checks its digest there, extracts it
// into a private folder beside the target, and renames the result into
// place (see filestate.ReplaceDirScript); the old folder, if any, is removed. Then it
// records the archive's digest for the folder.
func (u *Unarchive) Apply(ctx context.Context, t transport.Transport) error {
	var staged string
	var b strings.Builder
	b.WriteString("umask 077\n")
	if u.archiveSHA256 == "" {
		// The engine checks again after an earlier change: an archive
		// still missing then is missing now.
		return fmt.Errorf("%s: the archive %s is not on the host", u.path, u.source())
	}
	if u.remote != nil {
		staged = filestate.StagedPath()
		fmt.Fprintf(&b, "mkdir -p -- %s || exit 1\n", shell.Quote(filestate.StagingDir))
		fmt.Fprintf(&b, "s=%s\ntrap 'rm -f -- \"$s\"' EXIT\ntrap 'exit 1' HUP INT TERM\n", shell.Quote(staged))
		fmt.Fprintf(&b, "cat < %s > \"$s\" || exit 1\n", shell.Quote(u.remote.Path))
	} else {
		var err error
		if staged, err = filestate.Upload(ctx, t, u.local); err != nil {
			return fmt.Errorf("upload %s: %w", u.localName, err)
		}
		fmt.Fprintf(&b, "s=%s\ntrap 'rm -f -- \"$s\"' EXIT\ntrap 'exit 1' HUP INT TERM\n", shell.Quote(staged))
	}
	b.WriteString("sum=$(sha256sum < \"$s\") && sum=${sum%% *} || exit 1\n")
	// The staged copy must be the archive the check read: a remote_source
	// swapped since (for a link to a file only root may read) is refused.
	fmt.Fprintf(&b, "[ \"$sum\" = %s ] || { printf '%%s\\n' %s >&2; exit 1; }\n", shell.Quote(u.archiveSHA256),
		shell.Quote("skiff: "+u.source()+" changed since it was checked: nothing extracted"))
	b.WriteString("(\n")
	b.WriteString(filestate.ReplaceDirScript(u.path, u.extractScript("$s")))
	b.WriteString(") || exit 1\n")
	b.WriteString(u.recordScript("sum"))
	return shell.Run(ctx, t, "extract "+u.source()+" into "+u.path, b.String(), nil)
}

// extractScript extracts the archive in archive (a shell word) into ./new,
// from inside the private folder.
func (u *Unarchive) extractScript(archive string) string {
	var b strings.Builder
	b.WriteString("mkdir -m 755 ./new || exit 1\n")
	switch u.format {
	case TarGz, TarXz:
		z := "-z"
		if u.format == TarXz {
			z = "-J"
		}
		// As root tar keeps the archive's modes; --no-same-owner makes
		// the files root's (or owner's, below), whoever made the archive.
		fmt.Fprintf(&b, "tar -x %s --no-same-owner --strip-components=%d -f \"%s\" -C ./new || exit 1\n", z, u.strip, archive)
	case Zip:
		// unzip has no strip: extract, then keep what lies under N
		// levels of folders (files above them are dropped, as tar does).
		// Exit 1 is a warning (a "../" it skipped), not a failure.
		fmt.Fprintf(&b, "unzip -q -o \"%s\" -d ./z; x=$?; [ $x -le 1 ] || exit 1\n", archive)
		if u.strip == 0 {
			b.WriteString("rmdir ./new && mv -T -- ./z ./new || exit 1\nchmod 755 ./new || exit 1\n")
		} else {
			fmt.Fprintf(&b, "find ./z -mindepth %d -maxdepth %d -exec mv -- {} ./new/ \\; || exit 1\n", u.strip+1, u.strip+1)
		}
	}
	if c := filestate.Chown(u.owner, u.group); c != "" {
		// -h: a link in the archive is changed itself, never what it names.
		fmt.Fprintf(&b, "chown -hR %s ./new || exit 1\n", shell.Quote(c))
	}
	return b.String()
}

// recordScript writes the folder's record: "sha256=" followed by the
// value of the shell variable sumVar, then the rest of the stamp.
func (u *Unarchive) recordScript(sumVar string) string {
	r := shell.Quote(u.recordPath())
	rest := strings.TrimPrefix(u.stamp(""), "sha256= ")
	return fmt.Sprintf("mkdir -p -m 700 -- %s && printf 'sha256=%%s %%s\\n' \"$%s\" %s > %s.tmp && mv -f -- %s.tmp %s || exit 1\n",
		shell.Quote(RecordDir), sumVar, shell.Quote(rest), r, r, r)
}

// Names of what Reversal keeps in its backup folder.
const (
	backupCopy   = "orig"   // cp -a of the folder
	backupAbsent = "absent" // marker: there was no folder
	backupRecord = "record" // the host's record for the folder, if any
)

// Reversal implements module.Reversible: the folder as it was (a copy
// made before the change, cp -a) comes back in the same way a new one is
// placed, or the folder is removed when there was none; the host's record
// comes back with it.
func (u *Unarchive) Reversal(dir string) (backup, undo, after string) {
	if u.path == "" {
		return "", "", ""
	}
	orig, absent, rec := path.Join(dir, backupCopy), shell.Quote(path.Join(dir, backupAbsent)), shell.Quote(path.Join(dir, backupRecord))
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\n", shell.Quote(u.path))
	b.WriteString("if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then\n")
	fmt.Fprintf(&b, "  cp -a -- \"$p\" %s || exit 1\n", shell.Quote(orig))
	b.WriteString("elif [ -e \"$p\" ] || [ -L \"$p\" ]; then\n")
	b.WriteString("  printf '%s\\n' \"skiff: $p is not a folder: not backed up\" >&2; exit 1\n")
	b.WriteString("else\n")
	fmt.Fprintf(&b, "  : > %s || exit 1\n", absent)
	b.WriteString("fi\n")
	fmt.Fprintf(&b, "if [ -f %s ]; then cp -- %s %s || exit 1; fi\n", shell.Quote(u.recordPath()), shell.Quote(u.recordPath()), rec)
	backup = b.String()

	b.Reset()
	fmt.Fprintf(&b, "if [ -d %s ]; then\n", shell.Quote(orig))
	fmt.Fprintf(&b, "(\n%s) || exit 1\n", filestate.ReplaceDirScript(u.path, fmt.Sprintf("cp -a -- %s ./new || exit 1\n", shell.Quote(orig))))
	fmt.Fprintf(&b, "elif [ -e %s ]; then\n", absent)
	fmt.Fprintf(&b, "(\n%s) || exit 1\n", filestate.RemoveDirScript(u.path))
	b.WriteString("else\n")
	fmt.Fprintf(&b, "  printf '%%s\\n' %s >&2; exit 1\n", shell.Quote("skiff: no backup of "+u.path+" in "+dir))
	b.WriteString("fi\n")
	fmt.Fprintf(&b, "if [ -f %s ]; then cp -- %s %s || exit 1; else rm -f -- %s || exit 1; fi\n", rec, rec, shell.Quote(u.recordPath()), shell.Quote(u.recordPath()))
	undo = b.String()
	return backup, undo, ""
}
