package filestate

import (
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// Folders whose whole content skiff makes (an extracted archive, a
// clone) reach their place as files do (see place.go): made in a private
// folder beside the target, then renamed.

// ReplaceDirScript enters the parent of p safely (made when missing), makes a
// private folder there, runs fill (which must leave the new content in
// ./new), moves the folder now at p (a folder, never a link) aside into
// the private folder, renames ./new to p, and removes the old content.
// rename(2) never follows a link, and nobody but root can reach the
// private folder.
func ReplaceDirScript(p, fill string) string {
	var b strings.Builder
	b.WriteString(EnterScript)
	fmt.Fprintf(&b, "d=%s\nn=%s\nskiff_private=\n", shell.Quote(path.Dir(p)), shell.Quote(path.Base(p)))
	b.WriteString("trap '[ -z \"$skiff_private\" ] || { cd .. && rm -rf -- \"./$skiff_private\"; }' EXIT\ntrap 'exit 1' HUP INT TERM\n")
	b.WriteString("skiff_enter \"$d\" create || exit 1\n")
	b.WriteString(PrivateScript(path.Base(TempPath(p))))
	b.WriteString(fill)
	b.WriteString("if [ -e \"../$n\" ] || [ -L \"../$n\" ]; then\n")
	b.WriteString("  if [ -L \"../$n\" ] || [ ! -d \"../$n\" ]; then printf '%s\\n' \"skiff: $d/$n is not a folder: not replaced\" >&2; exit 1; fi\n")
	b.WriteString("  mv -T -- \"../$n\" ./old || exit 1\n")
	b.WriteString("fi\n")
	b.WriteString("mv -T -- ./new \"../$n\" || exit 1\n")
	return b.String()
}

// RemoveDirScript removes the folder p, when it is one (never through a
// link): moved aside into a private folder beside it, which goes.
func RemoveDirScript(p string) string {
	var b strings.Builder
	b.WriteString(EnterScript)
	fmt.Fprintf(&b, "d=%s\nn=%s\nskiff_private=\n", shell.Quote(path.Dir(p)), shell.Quote(path.Base(p)))
	b.WriteString("trap '[ -z \"$skiff_private\" ] || { cd .. && rm -rf -- \"./$skiff_private\"; }' EXIT\ntrap 'exit 1' HUP INT TERM\n")
	b.WriteString("[ -d \"$d\" ] || exit 0\n")
	b.WriteString("skiff_enter \"$d\" || exit 1\n")
	b.WriteString("{ [ -d \"./$n\" ] && [ ! -L \"./$n\" ]; } || exit 0\n")
	b.WriteString(PrivateScript(path.Base(TempPath(p))))
	b.WriteString("mv -T -- \"../$n\" ./old || exit 1\n")
	return b.String()
}
