package apt

import (
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// backupList is the file, in the backup folder, of what undo needs, one
// record a line:
//
//	pkg NAME STATE VERSION  a named package: installed, config-files or
//	                        absent (VERSION "-" when not installed)
//	dep NAME                a package the change installs as a dependency
//	was NAME VERSION        a package the change removes
const backupList = "packages"

// Reversal implements module.Reversible for the install or removal Check chose.
func (p *Package) Reversal(dir string) (backup, undo, after string) {
	if len(p.install)+len(p.remove) == 0 {
		return "", "", ""
	}
	list := shell.Quote(path.Join(dir, backupList))
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	fmt.Fprintf(&b, "l=%s\n: > \"$l\" || exit 1\n", list)
	names := shell.Join(p.names)
	if p.deb != "" {
		// The deb's package, read again now: the deb may have changed
		// since Check (or only now be there), and what Apply installs is
		// what the deb holds now. No deb, no Apply.
		fmt.Fprintf(&b, "d=$(dpkg-deb -f %s Package 2>/dev/null) && [ -n \"$d\" ] || { printf '%%s\\n' %s >&2; exit 1; }\n",
			shell.Quote(p.deb), shell.Quote("skiff: cannot read the package name of "+p.deb+" (missing, or not a .deb)"))
		names = "\"$d\""
	}
	fmt.Fprintf(&b, "for n in %s; do\n", names)
	b.WriteString("  s=$(dpkg-query -W -f='${db:Status-Status} ${Version}\\n' \"$n\" 2>/dev/null | head -n 1)\n")
	b.WriteString("  case $s in\n")
	b.WriteString("  'installed '*) printf '%s\\n' \"pkg $n installed ${s#installed }\" ;;\n")
	b.WriteString("  'config-files '*) printf '%s\\n' \"pkg $n config-files -\" ;;\n")
	b.WriteString("  *) printf '%s\\n' \"pkg $n absent -\" ;;\n")
	b.WriteString("  esac >> \"$l\" || exit 1\ndone\n")
	// The simulation prints "Inst NAME [OLD] (NEW …)" for an upgrade,
	// "Inst NAME (NEW …)" for a new package, "Remv NAME [OLD]" for a removal.
	// It is best effort: without it, undo still covers the named packages.
	sim := func(verb string, operands []string, extra string) {
		fmt.Fprintf(&b, "apt-get -s -q -o DPkg::Lock::Timeout=300 %s%s %s </dev/null 2>/dev/null | sed -n -e 's/^Inst \\([^ ]*\\) \\[[^]]*\\].*//; t' -e 's/^Inst \\([^ ]*\\) .*/dep \\1/p' -e 's/^Remv \\([^ ]*\\) \\[\\([^]]*\\)\\].*/was \\1 \\2/p' >> \"$l\"\n",
			verb, extra, shell.Join(operands))
	}
	if len(p.install) > 0 {
		extra := " --no-install-recommends"
		if p.version != "" || p.deb != "" {
			extra += " --allow-downgrades"
		}
		sim("install", p.install, extra)
	}
	if len(p.remove) > 0 {
		sim("remove", p.remove, "")
	}
	backup = b.String()

	b.Reset()
	fmt.Fprintf(&b, "l=%s\n", list)
	fmt.Fprintf(&b, "[ -f \"$l\" ] || { printf '%%s\\n' %s >&2; exit 1; }\n", shell.Quote("skiff: no saved package state in "+dir))
	b.WriteString(undoScript)
	return backup, b.String(), ""
}

// undoScript restores the packages recorded in the file "$l" (see
// backupList); a named package's own record wins over a "was" line.
// Names and versions are split and never globbed (set -f).
const undoScript = `set -f
LC_ALL=C; export LC_ALL
DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND
opts='` + aptOpts + `'
# ver NAME: the installed version, "" when not installed.
ver() { dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" </dev/null 2>/dev/null | sed -n 's/^installed //p' | head -n 1; }
# has LIST NAME: whether LIST (space-separated) holds NAME, arch ignored.
has() { case " $1 " in *" $2 "*|*" ${2%%:*} "*|*" $2:"*) return 0 ;; esac; return 1; }
# drop VERB NAMES: apt-get VERB NAMES, refused when apt would remove more.
drop() {
  verb=$1; shift
  sim=$(apt-get -s remove "$@" </dev/null 2>&1) || { printf '%s\n' "skiff: cannot remove $*: $(printf '%s\n' "$sim" | tail -n 1)" >&2; return 1; }
  more=
  for r in $(printf '%s\n' "$sim" | sed -n 's/^Remv \([^ ]*\).*/\1/p'); do
    has "$*" "$r" || more="$more $r"
  done
  if [ -n "$more" ]; then printf '%s\n' "skiff: removing $* would also remove$more (installed since?): not done" >&2; return 1; fi
  apt-get $verb $opts "$@" </dev/null >&2 || { printf '%s\n' "skiff: apt-get $verb $* failed" >&2; return 1; }
}
purge= remove= restore= named=
while read -r kind n st v; do
  case $kind in
  pkg)
    named="$named $n"
    cur=$(ver "$n")
    case $st in
    installed) [ "$cur" = "$v" ] || restore="$restore $n=$v" ;;
    config-files) [ -z "$cur" ] || remove="$remove $n" ;;
    *) [ -z "$cur" ] || purge="$purge $n" ;;
    esac ;;
  was)
    has "$named" "$n" && continue
    cur=$(ver "$n")
    [ "$cur" = "$st" ] || has "$restore" "$n=$st" || restore="$restore $n=$st" ;;
  esac
done < "$l"
if [ -n "$purge" ]; then drop purge $purge || exit 1; fi
if [ -n "$remove" ]; then drop remove $remove || exit 1; fi
if [ -n "$restore" ]; then
  apt-get install $opts --no-install-recommends --allow-downgrades $restore </dev/null >&2 ||
    { printf '%s\n' "skiff: cannot reinstall$restore (is that version still available from the apt sources?)" >&2; exit 1; }
fi
deps=
auto=$(apt-get -s autoremove </dev/null 2>/dev/null | sed -n 's/^Remv \([^ ]*\).*/\1/p' | tr '\n' ' ')
for n in $(sed -n 's/^dep //p' "$l"); do
  if has "$auto" "$n" && [ -n "$(ver "$n")" ]; then deps="$deps $n"; fi
done
if [ -n "$deps" ]; then drop purge $deps || exit 1; fi
`
