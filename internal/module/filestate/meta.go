package filestate

import (
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// Meta is the ownership and mode a module wants for a path. Empty Owner or
// Group and HasMode false mean "leave as it is".
type Meta struct {
	Owner, Group string // names or numeric ids
	Mode         uint32 // permission bits incl. 07000, as written in octal
	HasMode      bool
}

// Diff lists how s differs from m, as "mode 0644 -> 0600", "owner root -> www".
func (m Meta) Diff(s Stat) []string {
	var out []string
	if m.Owner != "" && !idMatches(m.Owner, s.Owner, s.UID) {
		out = append(out, fmt.Sprintf("owner %s -> %s", s.Owner, m.Owner))
	}
	if m.Group != "" && !idMatches(m.Group, s.Group, s.GID) {
		out = append(out, fmt.Sprintf("group %s -> %s", s.Group, m.Group))
	}
	if m.HasMode && m.Mode != s.Mode {
		out = append(out, fmt.Sprintf("mode %s -> %s", FormatMode(s.Mode), FormatMode(m.Mode)))
	}
	return out
}

// idMatches: want may be a name or a numeric id.
func idMatches(want, name, id string) bool { return want == name || want == id }

// FormatMode prints a mode as four octal digits.
func FormatMode(m uint32) string { return fmt.Sprintf("%04o", m) }

// Chown returns the "owner:group" operand for chown, "" when neither is set.
func Chown(owner, group string) string {
	switch {
	case owner != "" && group != "":
		return owner + ":" + group
	case owner != "":
		return owner
	case group != "":
		return ":" + group
	}
	return ""
}

// Script returns sh lines that set m on the path held by the shell variable
// named pathVar (which must already be set), exiting non-zero on failure.
// chown comes first because it may clear setuid bits that chmod then sets.
// isDir: GNU chmod keeps a directory's setuid/setgid bits on a numeric mode,
// so they are cleared explicitly when m does not want them.
func (m Meta) Script(pathVar string, isDir bool) string {
	var b strings.Builder
	if c := Chown(m.Owner, m.Group); c != "" {
		fmt.Fprintf(&b, "chown %s \"$%s\" || exit 1\n", shell.Quote(c), pathVar)
	}
	if m.HasMode {
		fmt.Fprintf(&b, "chmod %s \"$%s\" || exit 1\n", FormatMode(m.Mode), pathVar)
		if isDir && m.Mode&06000 != 06000 {
			var clear string
			if m.Mode&04000 == 0 {
				clear += "u"
			}
			if m.Mode&02000 == 0 {
				clear += "g"
			}
			fmt.Fprintf(&b, "chmod %s-s \"$%s\" || exit 1\n", clear, pathVar)
		}
	}
	return b.String()
}
