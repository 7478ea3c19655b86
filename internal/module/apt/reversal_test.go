package apt

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// A fake dpkg database ($FAKES/dpkg, lines "name status version") with a
// dpkg-query that reads it and an apt-get that changes it. apt-get -s
// prints $FAKES/sim-install for install, a Remv line per operand plus
// $FAKES/sim-remove-extra for remove, and $FAKES/autoremove for
// autoremove. Installing a NAME=VERSION listed in $FAKES/unavailable fails;
// installing a .deb (the real dpkg-deb reads it) installs its package.
const (
	fakeDpkgQuery = `for n; do :; done
l=$(grep "^${n%%:*} " "$FAKES/dpkg") || exit 1
set -- $l
printf '%s %s\n' "$2" "$3"`

	fakeAptGet = `sim= verb= args=
while [ $# -gt 0 ]; do
  case $1 in
  -s) sim=1 ;;
  -o) shift ;;
  -*) ;;
  install|remove|purge|autoremove) verb=$1 ;;
  *) args="$args $1" ;;
  esac
  shift
done
if [ -n "$sim" ]; then
  case $verb in
  install) cat "$FAKES/sim-install" 2>/dev/null ;;
  remove) for a in $args; do echo "Remv $a [0]"; done; cat "$FAKES/sim-remove-extra" 2>/dev/null ;;
  autoremove) cat "$FAKES/autoremove" 2>/dev/null ;;
  esac
  exit 0
fi
for a in $args; do
  if grep -qx "$a" "$FAKES/unavailable" 2>/dev/null; then echo "E: Version '${a#*=}' for '${a%%=*}' was not found" >&2; exit 100; fi
done
for a in $args; do
  n=${a%%=*} v=${a#*=}
  [ "$v" = "$a" ] && v=new
  case $a in /*.deb) n=$(dpkg-deb -f "$a" Package) v=$(dpkg-deb -f "$a" Version) ;; esac
  grep -v "^$n " "$FAKES/dpkg" > "$FAKES/dpkg.new"
  case $verb in
  install) echo "$n installed $v" >> "$FAKES/dpkg.new" ;;
  remove) echo "$n config-files -" >> "$FAKES/dpkg.new" ;;
  esac
  mv "$FAKES/dpkg.new" "$FAKES/dpkg"
done`
)

func fakeApt(t *testing.T, dpkg string) *moduletest.Fakes {
	t.Helper()
	f := moduletest.FakeCommands(t, map[string]string{"dpkg-query": fakeDpkgQuery, "apt-get": fakeAptGet})
	f.Write(t, "dpkg", dpkg)
	return f
}

// db returns the fake database, sorted, for comparisons.
func db(t *testing.T, f *moduletest.Fakes) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.Dir, "dpkg"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var out []string
	for _, l := range lines {
		if l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// changing are the calls that change packages (not queries or simulations).
func changing(t *testing.T, f *moduletest.Fakes) []string {
	var out []string
	for _, c := range f.Calls(t, "dpkg-query") {
		if !strings.Contains(c, " -s ") {
			out = append(out, c)
		}
	}
	return out
}

const opts = "-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"

// prepare builds the module, checks it against probe output and runs the
// backup; it returns the module and its undo fragment.
func prepare(t *testing.T, f *moduletest.Fakes, vals map[string]cty.Value, probe string) (*Package, string) {
	t.Helper()
	p := build(t, vals)
	if ch, err := p.Check(module.Probed{Stdout: []byte(probe)}); err != nil || ch == nil {
		t.Fatalf("check: %v %v", ch, err)
	}
	backup, undo, after := moduletest.Reversal(t, p, t.TempDir())
	if after != "" {
		t.Errorf("after = %q", after)
	}
	before := db(t, f)
	moduletest.MustRunFragment(t, "backup", backup)
	if db(t, f) != before {
		t.Fatal("backup changed packages")
	}
	if got := changing(t, f); len(got) > 0 {
		t.Fatalf("backup ran %q", got)
	}
	return p, undo
}

func TestUndoInstallAndUpgrade(t *testing.T) {
	const before = "apache2 installed 2.4\ncurl installed 7.0\noldjunk installed 0.1\n"
	f := fakeApt(t, before)
	// apt would install nginx and its library, upgrade curl and a library
	// of it, and remove apache2, which conflicts.
	f.Write(t, "sim-install", "Inst libnginx (1.0 Debian:12/stable [amd64])\nInst nginx (1.22 Debian:12/stable [amd64])\n"+
		"Inst libcurl4 [7.0] (7.1 Debian:12/stable [amd64])\nInst curl [7.0] (7.1 Debian:12/stable [amd64])\nRemv apache2 [2.4]\n")
	p, undo := prepare(t, f, map[string]cty.Value{"names": names("nginx", "curl"), "state": cty.StringVal("latest")},
		"[dpkg]\ncurl install ok installed 7.0\n[policy]\ncurl:\n  Installed: 7.0\n  Candidate: 7.1\nnginx:\n  Installed: (none)\n  Candidate: 1.22\n[end]\n")
	if err := p.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if got := db(t, f); got != "apache2 installed 2.4\ncurl installed new\nnginx installed new\noldjunk installed 0.1" {
		t.Fatalf("after apply: %s", got)
	}
	// What apt did beyond the operands: the dependency, the conflict.
	f.Write(t, "dpkg", "curl installed new\nlibnginx installed 1.0\nnginx installed new\noldjunk installed 0.1\n")
	changing(t, f)
	// After nginx is purged, libnginx is autoremovable; oldjunk was already.
	f.Write(t, "autoremove", "Remv libnginx [1.0]\nRemv oldjunk [0.1]\n")

	moduletest.MustRunFragment(t, "undo", undo)
	want := []string{
		"apt-get purge " + opts + " nginx",
		"apt-get install " + opts + " --no-install-recommends --allow-downgrades curl=7.0 apache2=2.4",
		"apt-get purge " + opts + " libnginx",
	}
	if got := changing(t, f); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("undo ran:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got, w := db(t, f), strings.TrimSpace(before); got != w {
		t.Errorf("packages after undo:\n%s\nwant:\n%s", got, w)
	}
	moduletest.MustRunFragment(t, "undo again", undo)
	if got := changing(t, f); len(got) > 0 {
		t.Errorf("second undo ran %q", got)
	}
}

func TestUndoRemove(t *testing.T) {
	f := fakeApt(t, "nginx installed 1.22.1-9\n")
	p, undo := prepare(t, f, map[string]cty.Value{"name": cty.StringVal("nginx"), "state": cty.StringVal("absent")},
		"[dpkg]\nnginx install ok installed 1.22.1-9\n[end]\n")
	if err := p.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	changing(t, f)
	moduletest.MustRunFragment(t, "undo", undo)
	if got := changing(t, f); len(got) != 1 || got[0] != "apt-get install "+opts+" --no-install-recommends --allow-downgrades nginx=1.22.1-9" {
		t.Errorf("undo ran %q", got)
	}
	if got := db(t, f); got != "nginx installed 1.22.1-9" {
		t.Errorf("packages: %s", got)
	}
}

func TestUndoOldVersionGone(t *testing.T) {
	f := fakeApt(t, "nginx installed 1.22.1-9\n")
	p, undo := prepare(t, f, map[string]cty.Value{"name": cty.StringVal("nginx"), "version": cty.StringVal("1.22.1-10")},
		"[dpkg]\nnginx install ok installed 1.22.1-9\n[end]\n")
	if err := p.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	f.Write(t, "unavailable", "nginx=1.22.1-9\n")
	res := moduletest.RunFragment(t, undo)
	if res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "skiff: cannot reinstall nginx=1.22.1-9 (is that version still available") {
		t.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
	}
}

// Purging what the change installed must not take along a package that
// came since and depends on it.
func TestUndoRefusesToRemoveMore(t *testing.T) {
	f := fakeApt(t, "")
	p, undo := prepare(t, f, map[string]cty.Value{"name": cty.StringVal("nginx")}, "[dpkg]\n[end]\n")
	if err := p.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	f.Write(t, "sim-remove-extra", "Remv nginx-extras-site [3]\n")
	changing(t, f)
	res := moduletest.RunFragment(t, undo)
	if res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "would also remove nginx-extras-site") {
		t.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
	}
	if got := changing(t, f); len(got) > 0 {
		t.Errorf("undo ran %q", got)
	}
}

func TestUndoWithoutBackupFails(t *testing.T) {
	fakeApt(t, "")
	p := build(t, map[string]cty.Value{"name": cty.StringVal("nginx")})
	p.Check(module.Probed{Stdout: []byte("[dpkg]\n[end]\n")})
	_, undo, _ := moduletest.Reversal(t, p, t.TempDir())
	if res := moduletest.RunFragment(t, undo); res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "no saved package state") {
		t.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
	}
}

// A deb task's package, not installed before, is purged by undo, with
// the dependency the deb brought.
func TestUndoDebInstall(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("no dpkg-deb here")
	}
	deb := writeDeb(t, t.TempDir(), "sumo.deb", sumoControl)
	const before = "nginx installed 1.22\n"
	f := fakeApt(t, before)
	f.Write(t, "sim-install", "Inst libfoo (1.0 Debian:12/stable [amd64])\nInst sumocollector (19.470-3 local-deb [amd64])\n")
	p, undo := prepare(t, f, map[string]cty.Value{"deb": cty.StringVal(deb)}, "[deb]\nPackage: sumocollector\nVersion: 19.470-3\n[dpkg]\n[end]\n")
	if err := p.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if got := changing(t, f); len(got) != 1 || got[0] != "apt-get install "+opts+" --no-install-recommends --allow-downgrades "+deb {
		t.Errorf("apply ran %q", got)
	}
	f.Write(t, "dpkg", "libfoo installed 1.0\nnginx installed 1.22\nsumocollector installed 19.470-3\n")
	f.Write(t, "autoremove", "Remv libfoo [1.0]\n")
	moduletest.MustRunFragment(t, "undo", undo)
	want := []string{"apt-get purge " + opts + " sumocollector", "apt-get purge " + opts + " libfoo"}
	if got := changing(t, f); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("undo ran:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := db(t, f); got != strings.TrimSpace(before) {
		t.Errorf("packages after undo: %s", got)
	}
	moduletest.MustRunFragment(t, "undo again", undo)
	if got := changing(t, f); len(got) > 0 {
		t.Errorf("second undo ran %q", got)
	}
}

// Undoing an upgrade from a deb reinstalls the old version from the apt
// sources, or says it cannot.
func TestUndoDebUpgrade(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("no dpkg-deb here")
	}
	deb := writeDeb(t, t.TempDir(), "sumo.deb", sumoControl)
	f := fakeApt(t, "sumocollector installed 19.460-1\n")
	p, undo := prepare(t, f, map[string]cty.Value{"deb": cty.StringVal(deb)},
		"[deb]\nPackage: sumocollector\nVersion: 19.470-3\n[dpkg]\nsumocollector install ok installed 19.460-1\n[end]\n")
	if err := p.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if got := db(t, f); got != "sumocollector installed 19.470-3" {
		t.Fatalf("after apply: %s", got)
	}
	changing(t, f)
	f.Write(t, "unavailable", "sumocollector=19.460-1\n")
	res := moduletest.RunFragment(t, undo)
	if res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "skiff: cannot reinstall sumocollector=19.460-1 (is that version still available from the apt sources?)") {
		t.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
	}
	os.Remove(filepath.Join(f.Dir, "unavailable"))
	changing(t, f)
	moduletest.MustRunFragment(t, "undo", undo)
	if got := changing(t, f); len(got) != 1 || got[0] != "apt-get install "+opts+" --no-install-recommends --allow-downgrades sumocollector=19.460-1" {
		t.Errorf("undo ran %q", got)
	}
	if got := db(t, f); got != "sumocollector installed 19.460-1" {
		t.Errorf("packages after undo: %s", got)
	}
}

// No deb on the host when the backup runs: the backup fails, so Apply
// does not run.
func TestBackupWithoutDebFails(t *testing.T) {
	f := fakeApt(t, "")
	deb := filepath.Join(t.TempDir(), "gone.deb")
	p := build(t, map[string]cty.Value{"deb": cty.StringVal(deb)})
	if ch, err := p.Check(module.Probed{Stdout: []byte("[nodeb]\n[end]\n")}); err != nil || ch == nil {
		t.Fatalf("%v %v", ch, err)
	}
	backup, _, _ := moduletest.Reversal(t, p, t.TempDir())
	if res := moduletest.RunFragment(t, backup); res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "skiff: cannot read the package name of "+deb) {
		t.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
	}
	if got := changing(t, f); len(got) > 0 {
		t.Errorf("backup ran %q", got)
	}
}
