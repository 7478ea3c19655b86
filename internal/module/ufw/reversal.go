package ufw

import (
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
)

var _ module.Reversible = (*UFW)(nil)

// savedFiles are the files ufw's commands change, with the name of their
// copy in the backup folder.
var savedFiles = [][2]string{
	{"/etc/ufw/user.rules", "user.rules"},
	{"/etc/ufw/user6.rules", "user6.rules"},
	{"/etc/ufw/ufw.conf", "ufw.conf"},
	{"/etc/default/ufw", "default-ufw"},
}

// Names of the records Reversal keeps in its backup folder besides the files.
const (
	backupWas    = "was"    // "active" or "inactive": ufw before the change
	backupAbsent = "absent" // marker: ufw was not installed
)

// Reversal implements module.Reversible. backup copies ufw's rules and
// settings files (cp -a) and records whether the firewall was active
// (`ufw status`, or ENABLED in ufw.conf when that cannot tell). undo
// renames copies of the saved files back into place, then reloads ufw
// (enabling it, if the change disabled it) when it was active, or
// disables it when it was not: the firewall gets exactly its old rules
// back, so an SSH rule that was there is there again, and nothing is
// flushed before the reload loads them. When ufw was not installed
// before, undo disables it (there was no firewall).
func (u *UFW) Reversal(dir string) (backup, undo, after string) {
	if len(u.adds)+len(u.deletes)+len(u.policies) == 0 && !u.enable && !u.disable {
		return "", "", ""
	}
	saved := func(name string) string { return shell.Quote(path.Join(dir, name)) }
	live := func(p string) string { return shell.Quote(u.root + p) }
	conf := live("/etc/ufw/ufw.conf")

	var b strings.Builder
	b.WriteString("if command -v ufw >/dev/null 2>&1; then\n")
	for _, f := range savedFiles {
		fmt.Fprintf(&b, "  if [ -f %s ]; then cp -a -- %s %s || exit 1; fi\n", live(f[0]), live(f[0]), saved(f[1]))
	}
	b.WriteString("  case $(ufw status </dev/null 2>&1 | head -n 1) in\n")
	b.WriteString("  'Status: active') echo active ;;\n")
	b.WriteString("  'Status: inactive') echo inactive ;;\n")
	fmt.Fprintf(&b, "  *) if grep -qi '^[[:space:]]*ENABLED=[\"'\\'']*yes' %s 2>/dev/null; then echo active; else echo inactive; fi ;;\n", conf)
	fmt.Fprintf(&b, "  esac > %s || exit 1\n", saved(backupWas))
	b.WriteString("else\n")
	fmt.Fprintf(&b, "  : > %s || exit 1\n", saved(backupAbsent))
	b.WriteString("fi\n")
	backup = b.String()

	b.Reset()
	fmt.Fprintf(&b, "if [ -f %s ]; then\n", saved(backupWas))
	b.WriteString("  trap 'rm -f \"$t\"' EXIT\n  trap 'exit 1' HUP INT TERM\n")
	for _, f := range savedFiles {
		fmt.Fprintf(&b, "  if [ -f %s ]; then\n", saved(f[1]))
		fmt.Fprintf(&b, "    t=%s\n", shell.Quote(filestate.TempPath(u.root+f[0])))
		fmt.Fprintf(&b, "    cp -a -- %s \"$t\" && mv -f -T -- \"$t\" %s || exit 1\n", saved(f[1]), live(f[0]))
		b.WriteString("  fi\n")
	}
	fmt.Fprintf(&b, "  if [ \"$(cat %s)\" = active ]; then\n", saved(backupWas))
	b.WriteString("    if [ \"$(ufw status </dev/null 2>&1 | head -n 1)\" = 'Status: active' ]; then\n")
	b.WriteString("      ufw reload </dev/null || { echo 'skiff: ufw reload failed' >&2; exit 1; }\n")
	b.WriteString("    else\n")
	b.WriteString("      ufw --force enable </dev/null || { echo 'skiff: ufw enable failed' >&2; exit 1; }\n")
	b.WriteString("    fi\n")
	b.WriteString("  else\n")
	b.WriteString("    ufw --force disable </dev/null || { echo 'skiff: ufw disable failed' >&2; exit 1; }\n")
	b.WriteString("  fi\n")
	fmt.Fprintf(&b, "elif [ -e %s ]; then\n", saved(backupAbsent))
	b.WriteString("  if command -v ufw >/dev/null 2>&1; then ufw --force disable </dev/null || exit 1; fi\n")
	b.WriteString("else\n")
	fmt.Fprintf(&b, "  echo %s >&2; exit 1\n", shell.Quote("skiff: no saved ufw state in "+dir))
	b.WriteString("fi\n")
	return backup, b.String(), ""
}
