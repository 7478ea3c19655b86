package filestate

import (
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// Names of what Reversal keeps in its backup folder.
const (
	backupCopy   = "orig"   // cp -a of the path: a regular file or a symlink
	backupAbsent = "absent" // marker: the path did not exist
)

// Reversal returns the backup and undo fragments (see module.Reversible)
// that save and restore path p, a regular file or a symbolic link, through
// the host folder dir.
//
// backup copies p with `cp -a` (content, mode, owner, timestamps; a
// symlink as a symlink) to dir/orig, or, when p does not exist, creates the
// marker dir/absent. It fails on anything else (a directory…).
//
// undo places a copy of dir/orig at p as PlaceScript does (atomic; a link
// planted on the way is never followed), or, after the absent marker,
// removes the file or symlink at p (RemoveScript). Without either (no
// backup was made) it fails rather than guess. Running it twice restores
// the same.
func Reversal(p, dir string) (backup, undo string) {
	q, orig, absent := shell.Quote(p), shell.Quote(path.Join(dir, backupCopy)), shell.Quote(path.Join(dir, backupAbsent))

	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\nb=%s\n", q, orig)
	b.WriteString("if [ -L \"$p\" ] || [ -f \"$p\" ]; then\n")
	b.WriteString("  cp -a -- \"$p\" \"$b\" || exit 1\n")
	b.WriteString("elif [ -e \"$p\" ]; then\n")
	b.WriteString("  printf '%s\\n' \"skiff: $p is neither a regular file nor a symbolic link: not backed up\" >&2; exit 1\n")
	b.WriteString("else\n")
	fmt.Fprintf(&b, "  : > %s || exit 1\n", absent)
	b.WriteString("fi\n")
	backup = b.String()

	b.Reset()
	fmt.Fprintf(&b, "b=%s\n", orig)
	b.WriteString("if [ -L \"$b\" ] || [ -e \"$b\" ]; then\n")
	fmt.Fprintf(&b, "(\n%s) || exit 1\n", PlaceScript(Placement{Path: p, Copy: path.Join(dir, backupCopy)}))
	fmt.Fprintf(&b, "elif [ -e %s ]; then\n", absent)
	fmt.Fprintf(&b, "(\n%s) || exit 1\n", RemoveScript(p, true, false))
	b.WriteString("else\n")
	fmt.Fprintf(&b, "  printf '%%s\\n' %s >&2; exit 1\n", shell.Quote("skiff: no backup of "+p+" in "+dir))
	b.WriteString("fi\n")
	undo = b.String()
	return backup, undo
}

// Reversal implements module.Reversible: the file (content, owner and
// mode) or its absence is restored from a copy made before Apply. This
// covers writes, owner and mode fixes, and removals alike.
func (f *File) Reversal(dir string) (backup, undo, after string) {
	if f.Path == "" {
		return "", "", ""
	}
	backup, undo = Reversal(f.Path, dir)
	return backup, undo, ""
}
