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
//	task "package" "collector" {
//	  deb = "/var/cache/skiff/sumocollector.deb"  # a .deb on the host
//	}
//
// deb (instead of name or names; state "present" only, no version; with
// update_cache, apt-get update runs first, for the deb's dependencies)
// installs a .deb file already on the host, its path absolute: skiff reads
// its Package and Version (dpkg-deb -f) and, unless that package is
// installed at that version, runs apt-get install on the file, which
// resolves its dependencies from the apt sources and replaces a newer or
// older installed version. A plan reads the host before any task changed
// it: a .deb that an earlier task of the run uploads is planned as
// "install PATH (not on the host yet)" when it is not there yet, and
// compared as it is (not as it will be) when it is; apply reads the host
// again after such a task changed it.
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
// from the host's apt sources. A deb task's package counts as named (its
// name read from the .deb when the backup runs, which fails, and so stops
// Apply, when the .deb is not there): undo purges it when it was not
// installed, and reinstalls its old version from the apt sources when the
// deb replaced one; a package installed from a local .deb is seldom there,
// and undo then fails with that message.
package apt

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Package is one "package" task.
type Package struct {
	names       []string
	state       string
	version     string
	updateCache bool
	deb         string // the path of a .deb on the host, instead of names

	// set by Check
	install []string // apt-get install operands: "name", "name=version" or the deb
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

// Serves accepts the systems whose packages are dpkg's and apt's.
func Serves(s module.System) error {
	if s.Is("debian", "ubuntu") {
		return nil
	}
	return fmt.Errorf("the package kind manages Debian and Ubuntu packages (dpkg and apt)")
}

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
	case a.Has("deb"):
		p.deb = debArg(a, p, hasName || hasNames)
		return p
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

// debArg reads deb, the absolute path of a .deb on the host, and rejects
// the arguments that do not go with it.
func debArg(a *module.Args, p *Package, hasNames bool) string {
	d := filestate.PathArg(a, "deb")
	switch {
	case hasNames:
		a.Errorf("deb", "Give either deb or name (names), not both: the package's name is the .deb's own.")
	case p.state != "present":
		a.Errorf("state", "deb goes with state = \"present\" only, not %q: to remove the package, give its name.", p.state)
	case a.Has("version"):
		a.Errorf("version", "version does not go with deb: the version is the .deb's own.")
	}
	if d != "" && !strings.HasSuffix(d, ".deb") {
		// apt-get install takes an operand for a file only when it ends so.
		a.Errorf("deb", "deb must be the path of a .deb file, ending in \".deb\", not %q.", d)
		return ""
	}
	return d
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
	if p.deb != "" {
		return debProbe(p.deb)
	}
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

// debProbe is the probe of a deb task. It prints "[deb]" then what
// dpkg-deb -f prints for the fields Package and Version ("Package: NAME",
// "Version: VERSION"), "[dpkg]" then dpkg-query's lines for NAME (as the
// names probe does), then "[end]". When the file is not there it prints
// "[nodeb]" and "[end]"; when dpkg-deb cannot read it, "[baddeb]", the
// end of dpkg-deb's complaint and "[end]"; "[nodpkg]" without dpkg.
func debProbe(deb string) string {
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	b.WriteString("if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then echo '[nodpkg]'; exit 0; fi\n")
	fmt.Fprintf(&b, "d=%s\n", shell.Quote(deb))
	b.WriteString("if [ ! -e \"$d\" ]; then printf '[nodeb]\\n[end]\\n'; exit 0; fi\n")
	b.WriteString("if ! f=$(dpkg-deb -f \"$d\" Package Version 2>/dev/null); then\n")
	b.WriteString("  echo '[baddeb]'; dpkg-deb -f \"$d\" Package Version 2>&1 >/dev/null | sed -n '/error/,$p'; echo '[end]'; exit 0\nfi\n")
	b.WriteString("printf '[deb]\\n%s\\n[dpkg]\\n' \"$f\"\n")
	b.WriteString("n=$(printf '%s\\n' \"$f\" | sed -n 's/^Package: //p')\n")
	b.WriteString("[ -z \"$n\" ] || dpkg-query -W -f='${Package} ${Status} ${Version}\\n' \"$n\" 2>/dev/null\n")
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
	if p.deb != "" {
		return p.checkDeb(sec)
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

// checkDeb is Check for a deb task: the deb's package is to be installed
// unless it is installed at the deb's version.
func (p *Package) checkDeb(sec map[string]string) (*module.Change, error) {
	if _, ok := sec["nodeb"]; ok {
		// Not an error: an earlier task of the run (a file task, a
		// download) may put it there, and a plan reads the host before
		// any task changed it. Apply reads the host again after such a
		// task ran, and fails clearly if the deb is still missing.
		p.install = []string{p.deb}
		return &module.Change{Action: plan.Create, Summary: fmt.Sprintf("install %s (not on the host yet)", p.deb)}, nil
	}
	if msg, ok := sec["baddeb"]; ok {
		msg = strings.Join(strings.Fields(msg), " ")
		if msg == "" {
			msg = "dpkg-deb could not read it"
		}
		return nil, fmt.Errorf("%s is not a readable .deb: %s", p.deb, msg)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(sec["deb"], "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			fields[k] = v
		}
	}
	name, version := fields["Package"], fields["Version"]
	if !nameRE.MatchString(name) || strings.Contains(name, ":") || version == "" {
		return nil, fmt.Errorf("%s: dpkg-deb printed no usable package name and version: %q", p.deb, strings.TrimSpace(sec["deb"]))
	}
	have, isInstalled := parseDpkg(sec["dpkg"])[name]
	switch {
	case !isInstalled:
		p.install = []string{p.deb}
		return &module.Change{Action: plan.Create, Summary: fmt.Sprintf("install %s %s from %s", name, version, p.deb)}, nil
	case have != version:
		p.install = []string{p.deb}
		return &module.Change{Action: plan.Update, Summary: fmt.Sprintf("install %s %s from %s (installed: %s)", name, version, p.deb, have)}, nil
	}
	return nil, nil
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
			if err := shell.Run(ctx, t, "apt-get update", env+"apt-get update -q -o DPkg::Lock::Timeout=300\n", nil); err != nil {
				return err
			}
		}
		extra, check := "", ""
		if p.version != "" || p.deb != "" {
			extra = " --allow-downgrades" // the wanted version may be older
		}
		if p.deb != "" {
			// Else apt-get takes it for a package name it cannot find.
			check = fmt.Sprintf("[ -f %s ] || { printf '%%s\\n' %s >&2; exit 1; }\n", shell.Quote(p.deb), shell.Quote("skiff: no file "+p.deb+" on the host"))
		}
		script := fmt.Sprintf("%s%sapt-get install %s --no-install-recommends%s %s\n", env, check, aptOpts, extra, shell.Join(p.install))
		if err := shell.Run(ctx, t, "apt-get install "+strings.Join(p.install, " "), script, nil); err != nil {
			return err
		}
	}
	if len(p.remove) > 0 {
		script := fmt.Sprintf("%sapt-get remove %s %s\n", env, aptOpts, shell.Join(p.remove))
		if err := shell.Run(ctx, t, "apt-get remove "+strings.Join(p.remove, " "), script, nil); err != nil {
			return err
		}
	}
	return nil
}
