// Package apt is the "package" task kind for Debian and Ubuntu hosts
// (dpkg-query to read, apt-get to change).
//
//	task "package" "web" {
//	  names        = ["nginx", "curl"]   # or: name = "nginx"
//	  state        = "present"           # "absent", "latest"
//	  version      = "1.22.1-9"          # exact apt version, one name only
//	  update_cache = true                # apt-get update before installing
//	}
//
// latest compares with the candidate of the host's current apt cache, read
// during the probe: with update_cache the upgrade found at apply time may be
// newer than the plan said. Names must be real package names: a virtual
// package is never "installed" and would be listed on every plan.
//
// Changes can be undone (module.Reversible), as well as apt allows: before
// the change, the state and version of each named package are recorded on
// the host, and so are, from a simulation of the same apt-get command, the
// dependencies it would newly install and the packages it would remove.
// Undo then purges the named packages that were not installed (removes,
// keeping their config files, those that had only config files left),
// reinstalls the recorded versions of the packages upgraded, downgraded or
// removed (--allow-downgrades), and purges the recorded new dependencies
// that nothing needs any more (those apt would autoremove). Upgraded
// dependencies are not downgraded. Undo refuses to remove a package that
// the purge would take along beyond those (one installed since, say), and
// fails with a clear message when an old version is no longer available
// from the host's apt sources.
package apt

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"

	"skiff/internal/module"
	"skiff/internal/module/shell"
	"skiff/internal/plan"
	"skiff/internal/transport"
)

// Package is one "package" task.
type Package struct {
	names       []string
	state       string
	version     string
	updateCache bool

	// set by Check
	install []string // apt-get install operands: "name" or "name=version"
	remove  []string
}

var (
	_ module.Module     = (*Package)(nil)
	_ module.Reversible = (*Package)(nil)
)

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9.+~:-]+$`)
)

// New is the module.Factory of the "package" kind.
func New(a *module.Args) module.Module {
	p := &Package{
		state:       a.OneOf("state", "present", "present", "absent", "latest"),
		version:     a.String("version", false),
		updateCache: a.Bool("update_cache", false),
	}
	a.RejectSensitive("name", "names", "version")
	hasName, hasNames := a.Has("name"), a.Has("names")
	switch {
	case hasName && hasNames:
		a.Errorf("names", "Give either name or names, not both.")
	case hasName:
		if n := a.String("name", false); n != "" {
			p.names = []string{n}
		}
	case hasNames:
		p.names = a.StringList("names")
		if len(p.names) == 0 && !a.Unknown("names") {
			a.Errorf("names", "names must not be empty.")
		}
	default:
		a.Errorf("name", "Give the package's name (or names, a list).")
	}
	for _, n := range p.names {
		if !nameRE.MatchString(n) {
			a.Errorf(argOf(hasName), "%q is not a Debian package name (lowercase letters, digits, \"+-.\", optionally \":arch\").", n)
		}
	}
	if p.version != "" {
		switch {
		case !versionRE.MatchString(p.version):
			a.Errorf("version", "%q is not a Debian version.", p.version)
		case p.state != "present":
			a.Errorf("version", "version goes with state = \"present\" only, not %q.", p.state)
		case len(p.names) > 1:
			a.Errorf("version", "version needs a single package (name), not a list.")
		}
	}
	return p
}

func argOf(hasName bool) string {
	if hasName {
		return "name"
	}
	return "names"
}

// Probe prints "[dpkg]" then dpkg-query's lines "name want ok status version",
// for latest "[policy]" then apt-cache policy, then "[end]"; or "[nodpkg]".
func (p *Package) Probe() string {
	if len(p.names) == 0 {
		return ""
	}
	names := shell.Join(p.names)
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	b.WriteString("if ! command -v dpkg-query >/dev/null 2>&1; then echo '[nodpkg]'; exit 0; fi\n")
	b.WriteString("echo '[dpkg]'\n")
	fmt.Fprintf(&b, "dpkg-query -W -f='${Package} ${Status} ${Version}\\n' %s 2>/dev/null\n", names)
	if p.state == "latest" {
		b.WriteString("echo '[policy]'\n")
		fmt.Fprintf(&b, "apt-cache policy %s 2>/dev/null\n", names)
	}
	b.WriteString("echo '[end]'\n")
	return b.String()
}

// installed maps a package name (without :arch) to its installed version.
func parseDpkg(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		// name want eflag status [version]
		if len(f) < 4 || f[3] != "installed" {
			continue
		}
		v := ""
		if len(f) > 4 {
			v = f[4]
		}
		m[baseName(f[0])] = v
	}
	return m
}

// parsePolicy maps a package name (without :arch) to its candidate version
// ("" when apt has none).
func parsePolicy(s string) map[string]string {
	m := map[string]string{}
	cur := ""
	for _, line := range strings.Split(s, "\n") {
		if line != "" && line[0] != ' ' && line[0] != '\t' && strings.HasSuffix(line, ":") {
			cur = baseName(strings.TrimSuffix(line, ":"))
			continue
		}
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == "Candidate" && cur != "" {
			v = strings.TrimSpace(v)
			if v == "(none)" {
				v = ""
			}
			m[cur] = v
		}
	}
	return m
}

func baseName(n string) string {
	b, _, _ := strings.Cut(n, ":")
	return b
}

// Check lists the packages to install, upgrade or remove.
func (p *Package) Check(pr module.Probed) (*module.Change, error) {
	p.install, p.remove = nil, nil
	sec := shell.Sections(pr.Stdout)
	if _, ok := sec["nodpkg"]; ok {
		return nil, fmt.Errorf("dpkg-query not found: the package kind supports Debian and Ubuntu hosts only")
	}
	if _, ok := sec["end"]; !ok {
		return nil, fmt.Errorf("package probe did not finish (exit %d): %q", pr.ExitCode, strings.TrimSpace(string(pr.Stdout)))
	}
	installed := parseDpkg(sec["dpkg"])
	candidates := parsePolicy(sec["policy"])

	var msgs []string
	creates, deletes := 0, 0
	for _, n := range p.names {
		have, isInstalled := installed[baseName(n)]
		switch {
		case p.state == "absent":
			if isInstalled {
				p.remove = append(p.remove, n)
				msgs = append(msgs, fmt.Sprintf("remove %s (%s)", n, have))
				deletes++
			}
		case !isInstalled:
			creates++
			switch {
			case p.version != "":
				p.install = append(p.install, n+"="+p.version)
				msgs = append(msgs, fmt.Sprintf("install %s (%s)", n, p.version))
			case p.state == "latest" && candidates[baseName(n)] != "":
				p.install = append(p.install, n)
				msgs = append(msgs, fmt.Sprintf("install %s (%s)", n, candidates[baseName(n)]))
			default:
				p.install = append(p.install, n)
				msgs = append(msgs, "install "+n)
			}
		case p.version != "" && have != p.version:
			p.install = append(p.install, n+"="+p.version)
			msgs = append(msgs, fmt.Sprintf("change %s %s -> %s", n, have, p.version))
		case p.state == "latest":
			if c := candidates[baseName(n)]; c != "" && c != have {
				p.install = append(p.install, n)
				msgs = append(msgs, fmt.Sprintf("upgrade %s %s -> %s", n, have, c))
			}
		}
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	action := plan.Update
	switch len(msgs) {
	case creates:
		action = plan.Create
	case deletes:
		action = plan.Delete
	}
	return &module.Change{Action: action, Summary: strings.Join(msgs, "; ")}, nil
}

// aptOpts make apt-get non-interactive, keep changed config files, and wait
// for the dpkg lock (unattended-upgrades often holds it on fresh hosts).
const aptOpts = "-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"

// Apply runs apt-get update (when asked and something is to be installed),
// apt-get install and apt-get remove.
func (p *Package) Apply(ctx context.Context, t transport.Transport) error {
	const env = "DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND\n"
	if len(p.install) > 0 {
		if p.updateCache {
			if err := run(ctx, t, "apt-get update", env+"apt-get update -q -o DPkg::Lock::Timeout=300\n"); err != nil {
				return err
			}
		}
		extra := ""
		if p.version != "" {
			extra = " --allow-downgrades"
		}
		script := fmt.Sprintf("%sapt-get install %s --no-install-recommends%s %s\n", env, aptOpts, extra, shell.Join(p.install))
		if err := run(ctx, t, "apt-get install "+strings.Join(p.install, " "), script); err != nil {
			return err
		}
	}
	if len(p.remove) > 0 {
		script := fmt.Sprintf("%sapt-get remove %s %s\n", env, aptOpts, shell.Join(p.remove))
		if err := run(ctx, t, "apt-get remove "+strings.Join(p.remove, " "), script); err != nil {
			return err
		}
	}
	return nil
}

func run(ctx context.Context, t transport.Transport, what, script string) error {
	res, err := t.Run(ctx, script)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return shell.NewRunError(what, res, nil)
	}
	return nil
}

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
	fmt.Fprintf(&b, "for n in %s; do\n", shell.Join(p.names))
	b.WriteString("  s=$(dpkg-query -W -f='${db:Status-Status} ${Version}\\n' \"$n\" 2>/dev/null | head -n 1)\n")
	b.WriteString("  case $s in\n")
	b.WriteString("  'installed '*) echo \"pkg $n installed ${s#installed }\" ;;\n")
	b.WriteString("  'config-files '*) echo \"pkg $n config-files -\" ;;\n")
	b.WriteString("  *) echo \"pkg $n absent -\" ;;\n")
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
		if p.version != "" {
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
	fmt.Fprintf(&b, "[ -f \"$l\" ] || { echo %s >&2; exit 1; }\n", shell.Quote("skiff: no saved package state in "+dir))
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
  sim=$(apt-get -s remove "$@" </dev/null 2>&1) || { echo "skiff: cannot remove $*: $(printf '%s\n' "$sim" | tail -n 1)" >&2; return 1; }
  more=
  for r in $(printf '%s\n' "$sim" | sed -n 's/^Remv \([^ ]*\).*/\1/p'); do
    has "$*" "$r" || more="$more $r"
  done
  if [ -n "$more" ]; then echo "skiff: removing $* would also remove$more (installed since?): not done" >&2; return 1; fi
  apt-get $verb $opts "$@" </dev/null >&2 || { echo "skiff: apt-get $verb $* failed" >&2; return 1; }
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
    { echo "skiff: cannot reinstall$restore (is that version still available from the apt sources?)" >&2; exit 1; }
fi
deps=
auto=$(apt-get -s autoremove </dev/null 2>/dev/null | sed -n 's/^Remv \([^ ]*\).*/\1/p' | tr '\n' ' ')
for n in $(sed -n 's/^dep //p' "$l"); do
  if has "$auto" "$n" && [ -n "$(ver "$n")" ]; then deps="$deps $n"; fi
done
if [ -n "$deps" ]; then drop purge $deps || exit 1; fi
`
