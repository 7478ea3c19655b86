package apt

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// arArchive is an ar archive of members (name, content) as dpkg-deb writes
// it.
func arArchive(members ...[2]string) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&b, "%-16s%-12s%-6s%-6s%-8s%-10d`\n", m[0], "0", "0", "0", "100644", len(m[1]))
		b.WriteString(m[1])
		if len(m[1])%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// controlTar is a control archive holding ./control, plus ./md5sums.
func controlTar(t *testing.T, control string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatGNU})
	for _, f := range [][2]string{{"./control", control}, {"./md5sums", "d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/x\n"}} {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f[1])), Format: tar.FormatGNU}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// emptyData is an empty data.tar.gz.
func emptyData(t *testing.T) string {
	var b bytes.Buffer
	tar.NewWriter(&b).Close()
	return string(gz(t, b.Bytes()))
}

// writeDeb writes a .deb with control (in control.tar.gz) into dir.
func writeDeb(t *testing.T, dir, name, control string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	deb := arArchive([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", string(gz(t, controlTar(t, control)))}, [2]string{"data.tar.gz", emptyData(t)})
	if err := os.WriteFile(p, deb, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// dpkgDebBuild builds a .deb with the real dpkg-deb and the compressor
// given (gzip, xz); "" when dpkg-deb is not here.
func dpkgDebBuild(t *testing.T, dir, name, compressor, control string) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		return ""
	}
	root := filepath.Join(dir, name+".d")
	if err := os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "DEBIAN", "control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+compressor, "--build", root, p).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return p
}

const sumoControl = `Package: sumocollector
Version: 19.470-3
Architecture: amd64
Maintainer: Sumo Logic <support@sumologic.com>
Installed-Size: 6213
Depends: libc6 (>= 2.17), adduser | passwd
Section: admin
Priority: optional
Description: Sumo Logic installed collector
 The collector.
 .
 More text.
`

// Control files dpkg-deb -f reads, or not: the helper answers for some of
// them and must then print what dpkg-deb prints, byte for byte.
var controlCases = map[string]string{
	"plain":              sumoControl,
	"minimal":            "Package: a\nVersion: 1.0\n",
	"trailing blank":     "Package: a\nVersion: 1.0\n\n",
	"epoch":              "Package: a\nVersion: 1:2.0-1\n",
	"zero epoch":         "Package: a\nVersion: 0:2.0-1\n",
	"upper name":         "Package: A\nVersion: 2.0\n",
	"lower field":        "package: a\nversion: 2.0\n",
	"spaces":             "Package:   a  \nVersion:  2.0  \n",
	"tab":                "Package:\ta\nVersion: 2.0\n",
	"crlf":               "Package: a\r\nVersion: 1\r\n",
	"no final newline":   "Package: a\nVersion: 1",
	"no version":         "Package: a\n",
	"no package":         "Version: 1\n",
	"empty version":      "Package: a\nVersion:\n",
	"version next line":  "Package: a\nVersion:\n 2.0\n",
	"version letters":    "Package: a\nVersion: abc\n",
	"empty revision":     "Package: a\nVersion: 1.0-\n",
	"hyphens":            "Package: a\nVersion: 1.0-rc1-2\n",
	"tilde plus":         "Package: a\nVersion: 1.0~rc1+dfsg-2\n",
	"two stanzas":        "Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n",
	"duplicate":          "Package: a\nVersion: 1\nversion: 2\n",
	"comment":            "# c\nPackage: a\nVersion: 1\n",
	"blank first line":   "\nPackage: a\nVersion: 1\n",
	"bad depends":        "Package: a\nVersion: 1\nDepends: ((\n",
	"empty alternative":  "Package: a\nVersion: 1\nDepends: b, , c\n",
	"arch restriction":   "Package: a\nVersion: 1\nDepends: b [amd64]\n",
	"depends ok":         "Package: a\nVersion: 1\nDepends: b (>= 1:2.0), c:any (<< 2~), d | e\nPre-Depends: f\nRecommends: g\n",
	"depends lines":      "Package: a\nVersion: 1\nDepends: b,\n c (= 1.0-1)\n",
	"provides range":     "Package: a\nVersion: 1\nProvides: b (>= 1)\n",
	"provides exact":     "Package: a\nVersion: 1\nProvides: b (= 1)\n",
	"conflicts or":       "Package: a\nVersion: 1\nConflicts: b | c\n",
	"essential maybe":    "Package: a\nVersion: 1\nEssential: maybe\n",
	"essential yes":      "Package: a\nVersion: 1\nEssential: yes\n",
	"multi-arch bad":     "Package: a\nVersion: 1\nMulti-Arch: x\n",
	"multi-arch foreign": "Package: a\nVersion: 1\nArchitecture: all\nMulti-Arch: foreign\n",
	"two archs":          "Package: a\nVersion: 1\nArchitecture: amd64 i386\n",
	"status":             "Package: a\nVersion: 1\nStatus: install ok installed\n",
	"free fields":        "Package: a\nVersion: 1\nSource: b (1.0)\nX-Custom: ((\nHomepage: https://example.com/\nInstalled-Size: abc\n",
	"empty field":        "Package: a\nVersion: 1\nMaintainer:\n",
	"description lines":  "Package: a\nVersion: 1\nDescription:\n text\n",
}

// Whenever the helper answers, dpkg-deb -f prints the same; the plainest
// control files are answered.
func TestReadDebMatchesDpkgDeb(t *testing.T) {
	_, err := exec.LookPath("dpkg-deb")
	haveDpkgDeb := err == nil
	dir := t.TempDir()
	for name, control := range controlCases {
		t.Run(name, func(t *testing.T) {
			p := writeDeb(t, dir, strings.ReplaceAll(name, " ", "-")+".deb", control)
			n, v, ok := readDeb(p)
			mustAnswer := map[string]bool{"plain": true, "minimal": true, "trailing blank": true, "hyphens": true, "tilde plus": true,
				"depends ok": true, "depends lines": true, "provides exact": true, "essential yes": true, "multi-arch foreign": true, "free fields": true}
			if mustAnswer[name] && !ok {
				t.Errorf("declined:\n%s", control)
			}
			if !haveDpkgDeb {
				return
			}
			cmd := exec.Command("dpkg-deb", "-f", p, "Package", "Version")
			cmd.Env = append(os.Environ(), "LC_ALL=C")
			want, err := cmd.Output()
			if ok && (err != nil || string(want) != "Package: "+n+"\nVersion: "+v+"\n") {
				t.Errorf("helper read %q %q; dpkg-deb -f: %v\n%s", n, v, err, want)
			}
		})
	}
}

func TestReadDebDeclines(t *testing.T) {
	dir := t.TempDir()
	control := controlTar(t, "Package: a\nVersion: 1.0\n")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// An uncompressed control is read.
	if n, v, ok := readDeb(write("plain-tar.deb", arArchive([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar", string(control)}))); !ok || n != "a" || v != "1.0" {
		t.Errorf("control.tar: %q %q %v", n, v, ok)
	}
	// GNU ar's "name/" is a name too.
	if _, _, ok := readDeb(write("gnu-ar.deb", arArchive([2]string{"debian-binary/", "2.0\n"}, [2]string{"control.tar.gz/", string(gz(t, control))}))); !ok {
		t.Error("GNU ar names declined")
	}
	for name, data := range map[string][]byte{
		"xz":           arArchive([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.xz", "\xfd7zXZ\x00"}),
		"zst":          arArchive([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.zst", "(\xb5/\xfd"}),
		"not ar":       []byte("junk\n"),
		"version 2.1":  arArchive([2]string{"debian-binary", "2.1\n"}, [2]string{"control.tar.gz", string(gz(t, control))}),
		"member first": arArchive([2]string{"debian-binary", "2.0\n"}, [2]string{"_extra", "x"}, [2]string{"control.tar.gz", string(gz(t, control))}),
		"data first":   arArchive([2]string{"debian-binary", "2.0\n"}, [2]string{"data.tar.gz", emptyData(t)}),
		"bad gzip":     arArchive([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", "\x1f\x8bjunk"}),
		"truncated":    arArchive([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", string(gz(t, control))})[:100],
		"no control":   arArchive([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", string(gz(t, controlTarWithout(t)))}),
	} {
		if n, v, ok := readDeb(write(name+".deb", data)); ok {
			t.Errorf("%s: read %q %q, want a decline", name, n, v)
		}
	}
	if _, _, ok := readDeb(dir); ok {
		t.Error("a folder: not declined")
	}
}

func controlTarWithout(t *testing.T) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "./postinst", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2})
	tw.Write([]byte("#\n"))
	tw.Close()
	return b.Bytes()
}

// Debs that the real dpkg-deb built: gzip is read, xz declined.
func TestReadDebBuiltByDpkgDeb(t *testing.T) {
	dir := t.TempDir()
	p := dpkgDebBuild(t, dir, "gz.deb", "gzip", sumoControl)
	if p == "" {
		t.Skip("no dpkg-deb here")
	}
	if n, v, ok := readDeb(p); !ok || n != "sumocollector" || v != "19.470-3" {
		t.Errorf("gzip: %q %q %v", n, v, ok)
	}
	if _, _, ok := readDeb(dpkgDebBuild(t, dir, "xz.deb", "xz", sumoControl)); ok {
		t.Error("xz: not declined")
	}
	if n, v, ok := readDeb(dpkgDebBuild(t, dir, "none.deb", "none", sumoControl)); !ok || n != "sumocollector" || v != "19.470-3" {
		t.Errorf("uncompressed: %q %q %v", n, v, ok)
	}
}

func TestDebArgErrors(t *testing.T) {
	deb := cty.StringVal("/var/cache/skiff/sumocollector.deb")
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"with name":    {map[string]cty.Value{"deb": deb, "name": cty.StringVal("a")}, "either deb or name"},
		"with names":   {map[string]cty.Value{"deb": deb, "names": names("a")}, "either deb or name"},
		"absent":       {map[string]cty.Value{"deb": deb, "state": cty.StringVal("absent")}, `deb goes with state = "present" only, not "absent"`},
		"latest":       {map[string]cty.Value{"deb": deb, "state": cty.StringVal("latest")}, `not "latest"`},
		"version":      {map[string]cty.Value{"deb": deb, "version": cty.StringVal("1.0")}, "version does not go with deb"},
		"relative":     {map[string]cty.Value{"deb": cty.StringVal("sumocollector.deb")}, "must be an absolute path"},
		"not a .deb":   {map[string]cty.Value{"deb": cty.StringVal("/var/cache/skiff/sumocollector")}, `ending in ".deb"`},
		"empty":        {map[string]cty.Value{"deb": cty.StringVal("")}, "must not be empty"},
		"bad state":    {map[string]cty.Value{"deb": deb, "state": cty.StringVal("installed")}, "must be one of"},
		"update_cache": {map[string]cty.Value{"deb": deb, "update_cache": cty.StringVal("maybe")}, "update_cache"},
		"unsupported":  {map[string]cty.Value{"deb": deb, "purge": cty.True}, `no argument named "purge"`},
		"newline path": {map[string]cty.Value{"deb": cty.StringVal("/tmp/a\n.deb")}, "newline"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("package", "p", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
		})
	}
	// deb with update_cache is fine: apt resolves the deb's dependencies
	// from the apt sources.
	p := build(t, map[string]cty.Value{"deb": deb, "update_cache": cty.True, "state": cty.StringVal("present")})
	if p.deb != "/var/cache/skiff/sumocollector.deb" || !p.updateCache {
		t.Errorf("%+v", p)
	}
}

const sumoDeb = "/var/cache/skiff/sumocollector.deb"

func TestCheckDeb(t *testing.T) {
	const deb = "[deb]\nPackage: sumocollector\nVersion: 19.470-3\n"
	for _, tc := range []struct {
		name, out, summary, err string
		action                  plan.Action
	}{
		{name: "not installed", out: deb + "[dpkg]\n[end]\n",
			action: plan.Create, summary: "install sumocollector 19.470-3 from " + sumoDeb},
		{name: "config files only", out: deb + "[dpkg]\nsumocollector deinstall ok config-files 19.460-1\n[end]\n",
			action: plan.Create, summary: "install sumocollector 19.470-3 from " + sumoDeb},
		{name: "half installed", out: deb + "[dpkg]\nsumocollector install reinstreq half-installed 19.470-3\n[end]\n",
			action: plan.Create, summary: "install sumocollector 19.470-3 from " + sumoDeb},
		{name: "same version", out: deb + "[dpkg]\nsumocollector install ok installed 19.470-3\n[end]\n"},
		{name: "other version", out: deb + "[dpkg]\nsumocollector install ok installed 19.460-1\n[end]\n",
			action: plan.Update, summary: "install sumocollector 19.470-3 from " + sumoDeb + " (installed: 19.460-1)"},
		{name: "newer installed", out: deb + "[dpkg]\nsumocollector install ok installed 19.480-1\n[end]\n",
			action: plan.Update, summary: "install sumocollector 19.470-3 from " + sumoDeb + " (installed: 19.480-1)"},
		{name: "not there yet", out: "[nodeb]\n[end]\n",
			action: plan.Create, summary: "install " + sumoDeb + " (not on the host yet)"},
		{name: "unreadable", out: "[baddeb]\ndpkg-deb: error: '" + sumoDeb + "' is not a Debian format archive\n[end]\n",
			err: sumoDeb + " is not a readable .deb: dpkg-deb: error: '" + sumoDeb + "' is not a Debian format archive"},
		{name: "unreadable, no message", out: "[baddeb]\n[end]\n", err: sumoDeb + " is not a readable .deb: dpkg-deb could not read it"},
		{name: "no fields", out: "[deb]\n[dpkg]\n[end]\n", err: "no usable package name"},
		{name: "no dpkg", out: "[nodpkg]\n", err: "Debian and Ubuntu"},
		{name: "cut short", out: deb, err: "did not finish"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, map[string]cty.Value{"deb": cty.StringVal(sumoDeb)})
			ch, err := p.Check(module.Probed{Stdout: []byte(tc.out)})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.action == "" {
				if ch != nil || len(p.install) > 0 {
					t.Fatalf("unexpected change %+v", ch)
				}
				return
			}
			if ch == nil || ch.Action != tc.action || ch.Summary != tc.summary {
				t.Fatalf("change = %+v", ch)
			}
			if len(p.install) != 1 || p.install[0] != sumoDeb || len(p.remove) > 0 {
				t.Errorf("install %v remove %v", p.install, p.remove)
			}
		})
	}
}

func TestApplyDeb(t *testing.T) {
	p := build(t, map[string]cty.Value{"deb": cty.StringVal(sumoDeb)})
	if _, err := p.Check(module.Probed{Stdout: []byte("[deb]\nPackage: sumocollector\nVersion: 19.470-3\n[dpkg]\n[end]\n")}); err != nil {
		t.Fatal(err)
	}
	tr := &script{}
	if err := p.Apply(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	want := "DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND\n" +
		"[ -f '/var/cache/skiff/sumocollector.deb' ] || { printf '%s\\n' 'skiff: no file /var/cache/skiff/sumocollector.deb on the host' >&2; exit 1; }\n" +
		"apt-get install " + opts + " --no-install-recommends --allow-downgrades '/var/cache/skiff/sumocollector.deb'\n"
	if len(tr.ran) != 1 || tr.ran[0] != want {
		t.Fatalf("ran %q\nwant %q", tr.ran, want)
	}
	tr = &script{res: transport.Result{ExitCode: 100, Stderr: []byte("E: Unmet dependencies.")}}
	if err := p.Apply(context.Background(), tr); err == nil || err.Error() != "apt-get install /var/cache/skiff/sumocollector.deb failed (exit 100): E: Unmet dependencies." {
		t.Errorf("err = %v", err)
	}
	// The deb's absence is said so, in the script run on the host.
	dir := t.TempDir()
	p = build(t, map[string]cty.Value{"deb": cty.StringVal(filepath.Join(dir, "gone.deb"))})
	p.Check(module.Probed{Stdout: []byte("[nodeb]\n[end]\n")})
	fakeApt(t, "")
	err := p.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "skiff: no file "+filepath.Join(dir, "gone.deb")+" on the host") {
		t.Errorf("err = %v", err)
	}
	// update_cache: apt-get update first.
	p = build(t, map[string]cty.Value{"deb": cty.StringVal(sumoDeb), "update_cache": cty.True})
	p.Check(module.Probed{Stdout: []byte("[nodeb]\n[end]\n")})
	tr = &script{}
	if err := p.Apply(context.Background(), tr); err != nil || len(tr.ran) != 2 || !strings.Contains(tr.ran[0], "apt-get update") {
		t.Errorf("ran %q: %v", tr.ran, err)
	}
}

// runProbe runs a Probe fragment with /bin/sh as the probe batch does.
func runProbe(t *testing.T, frag string) []byte {
	t.Helper()
	cmd := exec.Command("/bin/sh")
	cmd.Stdin = strings.NewReader("(\n" + frag + "\n)\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The fragment with the real dpkg-deb and a fake dpkg-query, and the
// helper's answer, agree byte for byte; the helper runs dpkg-query once
// for deb and names tasks alike, and leaves an xz deb to the fragment.
func TestAnswerDebMatchesTheFragment(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("no dpkg-deb here")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "dpkg-query"), []byte(fakeSortedDpkgQuery), 0o755)
	os.WriteFile(filepath.Join(dir, "db"), []byte("nginx install ok installed 1.22\nsumocollector install ok installed 19.460-1\nold deinstall ok config-files 0.1\ncurrent install ok installed 2.0-1\n"), 0o644)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_DPKG", dir)
	useDpkgQuery(t)
	debs := t.TempDir()
	upgrade := writeDeb(t, debs, "sumo.deb", sumoControl)
	fresh := dpkgDebBuild(t, debs, "fresh.deb", "gzip", "Package: skiff-fresh\nVersion: 1.0\nArchitecture: all\nMaintainer: x <x@example.com>\nDescription: x\n")
	configs := writeDeb(t, debs, "old.deb", "Package: old\nVersion: 0.2\n")
	current := writeDeb(t, debs, "current.deb", "Package: current\nVersion: 2.0-1\nDepends: nginx\n")
	xz := dpkgDebBuild(t, debs, "xz.deb", "xz", "Package: nginx\nVersion: 1.22\nArchitecture: all\nMaintainer: x <x@example.com>\nDescription: x\n")
	notDeb := filepath.Join(debs, "junk.deb")
	os.WriteFile(notDeb, []byte("junk\n"), 0o644)
	missing := filepath.Join(debs, "missing.deb")
	underFile := filepath.Join(notDeb, "x.deb")

	type task struct {
		vals     map[string]cty.Value
		answered bool
	}
	tasks := []task{
		{map[string]cty.Value{"deb": cty.StringVal(upgrade)}, true},
		{map[string]cty.Value{"names": names("nginx", "sumocollector")}, true},
		{map[string]cty.Value{"deb": cty.StringVal(fresh)}, true},
		{map[string]cty.Value{"deb": cty.StringVal(configs)}, true},
		{map[string]cty.Value{"deb": cty.StringVal(current)}, true},
		{map[string]cty.Value{"deb": cty.StringVal(missing)}, true},
		{map[string]cty.Value{"deb": cty.StringVal(underFile)}, true},
		{map[string]cty.Value{"deb": cty.StringVal(xz)}, false},
		{map[string]cty.Value{"deb": cty.StringVal(notDeb)}, false},
	}
	var queries [][]byte
	var pkgs []*Package
	for _, tk := range tasks {
		p := build(t, tk.vals)
		kind, q, ok := p.NativeProbe()
		if !ok || kind != NativePackages {
			t.Fatalf("%v: no native probe", tk.vals)
		}
		raw, _ := json.Marshal(q)
		queries = append(queries, raw)
		pkgs = append(pkgs, p)
	}
	got := AnswerPackages(queries)
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	os.Remove(filepath.Join(dir, "calls"))
	if n := strings.Count(string(calls), "-W"); n != 1 {
		t.Errorf("dpkg-query ran %d times, want once:\n%s", n, calls)
	}
	for i, p := range pkgs {
		want := runProbe(t, p.Probe())
		if got[i].OK != tasks[i].answered {
			t.Errorf("%v: answered %v, want %v (fragment printed %q)", tasks[i].vals, got[i].OK, tasks[i].answered, want)
			continue
		}
		if got[i].OK && !bytes.Equal(got[i].Stdout, want) {
			t.Errorf("%v: native answer differs:\n--- fragment\n%s--- native\n%s", tasks[i].vals, want, got[i].Stdout)
		}
		if _, err := p.Check(module.Probed{Stdout: want}); err != nil && p.deb != notDeb {
			t.Errorf("%v: %v", tasks[i].vals, err)
		}
	}
	// What Check makes of the fragments.
	for _, c := range []struct {
		i       int
		summary string
	}{
		{0, "install sumocollector 19.470-3 from " + upgrade + " (installed: 19.460-1)"},
		{2, "install skiff-fresh 1.0 from " + fresh},
		{3, "install old 0.2 from " + configs},
		{4, ""},
		{5, "install " + missing + " (not on the host yet)"},
		{7, ""}, // nginx 1.22 is installed
	} {
		ch, err := pkgs[c.i].Check(module.Probed{Stdout: runProbe(t, pkgs[c.i].Probe())})
		if err != nil || (ch == nil) != (c.summary == "") || ch != nil && ch.Summary != c.summary {
			t.Errorf("task %d: %+v %v, want %q", c.i, ch, err, c.summary)
		}
	}
	_, err := pkgs[8].Check(module.Probed{Stdout: runProbe(t, pkgs[8].Probe())})
	if err == nil || !strings.Contains(err.Error(), notDeb+" is not a readable .deb: dpkg-deb: error:") {
		t.Errorf("junk: %v", err)
	}
}

// Without dpkg, the helper answers as the fragment does.
func TestAnswerDebWithoutDpkg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := build(t, map[string]cty.Value{"deb": cty.StringVal(sumoDeb)})
	_, q, _ := p.NativeProbe()
	raw, _ := json.Marshal(q)
	got := AnswerPackages([][]byte{raw})[0]
	want := runProbe(t, p.Probe())
	if !got.OK || !bytes.Equal(got.Stdout, want) || string(want) != "[nodpkg]\n" {
		t.Errorf("native %v %q, fragment %q", got.OK, got.Stdout, want)
	}
}

// The real dpkg-deb and dpkg-query of this machine, when it has them: an
// installed package's own version is no change, another package is one;
// the helper agrees with the fragment.
func TestLocalDeb(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("no dpkg-query here")
	}
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "dpkg").Output()
	if err != nil {
		t.Skip("dpkg not installed here?")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		control, summary string
	}{
		{"Package: dpkg\nVersion: " + string(out) + "\nArchitecture: all\nMaintainer: x <x@example.com>\nDescription: x\n", ""},
		{"Package: skiff-no-such-package\nVersion: 1.0-1\nArchitecture: all\nMaintainer: x <x@example.com>\nDescription: x\n", "install skiff-no-such-package 1.0-1 from "},
	} {
		p := dpkgDebBuild(t, dir, fmt.Sprintf("%d.deb", len(tc.summary)), "gzip", tc.control)
		if p == "" {
			t.Skip("no dpkg-deb here")
		}
		m := build(t, map[string]cty.Value{"deb": cty.StringVal(p)})
		fragment := moduletest.Probe(t, m)
		ch, err := m.Check(fragment)
		if err != nil {
			t.Fatal(err)
		}
		if (ch == nil) != (tc.summary == "") || ch != nil && ch.Summary != tc.summary+p {
			t.Errorf("change = %+v", ch)
		}
		_, q, _ := m.NativeProbe()
		raw, _ := json.Marshal(q)
		if got := AnswerPackages([][]byte{raw})[0]; !got.OK || !bytes.Equal(got.Stdout, fragment.Stdout) {
			t.Errorf("native %v:\n%s--- fragment\n%s", got.OK, got.Stdout, fragment.Stdout)
		}
	}
}
