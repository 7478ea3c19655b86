package apt

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const queryFormat = "-f=${Package} ${Status} ${Version}\n"

// realDpkgQuery is what dpkg-query -W prints for names, with the
// database in admindir ("" for the default).
func realDpkgQuery(t *testing.T, admindir string, names []string) string {
	t.Helper()
	args := []string{"-W", queryFormat}
	if admindir != "" {
		args = append([]string{"--admindir=" + admindir}, args...)
	}
	cmd := exec.Command("dpkg-query", append(args, names...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		t.Fatal(err)
	}
	return string(out)
}

// withAdminDir points the helper at dir for the rest of the test.
func withAdminDir(t *testing.T, dir string) {
	t.Helper()
	old := dpkgAdminDir
	dpkgAdminDir = dir
	t.Cleanup(func() { dpkgAdminDir = old })
	for _, v := range []string{"DPKG_ADMINDIR", "DPKG_ROOT"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
}

var (
	packageLineRE  = regexp.MustCompile(`(?m)^Package: (\S+)$`)
	configFilesRE  = regexp.MustCompile(`(?m)^Package: (\S+)\n(?:[^\n]+\n)*?Status: \S+ \S+ config-files$`)
	relationLineRE = regexp.MustCompile(`(?m)^(?:Depends|Pre-Depends|Recommends|Suggests|Enhances|Breaks|Conflicts|Replaces|Provides): (.*)$`)
	relationNameTk = regexp.MustCompile(`(?:^|[,|])\s*([a-z0-9][a-z0-9+.-]*)`)
)

// On this machine's real dpkg database, the status file read in Go prints
// what dpkg-query prints: for every installed package (in batches, and
// all at once), for names only mentioned by relations, for names dpkg
// does not know, and for packages with only config files left.
func TestDpkgQueryMatchesTheLocalDatabase(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("no dpkg-query here")
	}
	data, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Skip("no dpkg status file here")
	}
	withAdminDir(t, "/var/lib/dpkg")
	var installed, mentioned, configFiles []string
	for _, m := range packageLineRE.FindAllStringSubmatch(string(data), -1) {
		installed = append(installed, m[1])
	}
	for _, m := range configFilesRE.FindAllStringSubmatch(string(data), -1) {
		configFiles = append(configFiles, m[1])
	}
	seen := map[string]bool{}
	for _, n := range installed {
		seen[n] = true
	}
	for _, l := range relationLineRE.FindAllStringSubmatch(string(data), -1) {
		for _, m := range relationNameTk.FindAllStringSubmatch(l[1], -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				mentioned = append(mentioned, m[1])
			}
		}
	}
	if len(installed) == 0 {
		t.Skip("empty dpkg database")
	}
	t.Logf("%d packages, %d names only mentioned, %d with config files only", len(installed), len(mentioned), len(configFiles))
	unknown := []string{"skiff-no-such-package", "zzzz-skiff", "a", "0skiff", "libc6-skiff"}

	compare := func(what string, names []string) {
		t.Helper()
		got, ok := dpkgQuery(names)
		if !ok {
			if reason := pendingDpkgWork(); reason != "" {
				t.Skipf("dpkg has work pending (%s): the helper rightly declines", reason)
			}
			t.Fatalf("%s: declined on this machine's database", what)
		}
		if want := realDpkgQuery(t, "", names); got != want {
			t.Fatalf("%s: differs from dpkg-query\n--- dpkg-query\n%s--- helper\n%s", what, want, got)
		}
	}
	// Batches in reverse order: the output is sorted whatever the order.
	rev := slices.Clone(installed)
	slices.Reverse(rev)
	for len(rev) > 0 {
		n := min(len(rev), 100)
		compare("installed batch", append(rev[:n:n], unknown[0]))
		rev = rev[n:]
	}
	compare("all installed", installed)
	for len(mentioned) > 0 {
		n := min(len(mentioned), 100)
		compare("mentioned only", mentioned[:n])
		mentioned = mentioned[n:]
	}
	compare("unknown", unknown)
	compare("mixed", []string{"zzzz-skiff", installed[len(installed)-1], "skiff-no-such-package", installed[0], installed[0]})
	if len(configFiles) > 0 {
		compare("config-files", configFiles)
	} else {
		t.Log("no package with config files only here (the fixtures cover them)")
	}
}

// pendingDpkgWork says why the helper may decline on a live database.
func pendingDpkgWork() string {
	entries, _ := os.ReadDir(filepath.Join(dpkgAdminDir, "updates"))
	for _, e := range entries {
		if strings.Trim(e.Name(), "0123456789") == "" {
			return "updates/" + e.Name()
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dpkgAdminDir, "triggers", "Unincorp")); len(b) > 0 {
		return "triggers/Unincorp"
	}
	return ""
}

// fixtureStatus is a status file with the states a package can be in.
const fixtureStatus = `Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 164
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Provides: libz1
Depends: libc6 (>= 2.14)
Breaks: libxml2 (<< 2.7.6.dfsg-2), texlive-binaries (<< 2009-12)
Conflicts: zlib1 (<= 1:1.0.4-7)
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.
 .
 More.
Homepage: http://zlib.net/

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Recommends: libidn2-0 (>= 2.0.5~)
Suggests: glibc-doc, debconf | debconf-2.0, libc-l10n, locales (>= 2.36), libnss-nis, libnss-nisplus
Breaks: aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6), hurd (<< 1:0.9.git20220301-2), ioquake3 (<< 1.36+u20200211.f2c61c1~dfsg-2~), libgegl-0.4-0 (<< 0.4.18), libtirpc1 (<< 0.2.3), locales (<< 2.36), locales-all (<< 2.36), macs (<< 2.2.7.1-3~), nocheck (<< 1.36+u20200211.f2c61c1~dfsg-2~), nscd (<< 2.36)
Conffiles:
 /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: oldpkg
Status: deinstall ok config-files
Priority: optional
Section: admin
Installed-Size: 10
Maintainer: x <x@example.com>
Architecture: all
Version: 0.9-1
Conffiles:
 /etc/oldpkg.conf 0123456789abcdef0123456789abcdef
Description: old


Package: heldpkg
Status: hold ok installed
Maintainer: x <x@example.com>
Architecture: all
Version: 2.0~rc1+dfsg-3
Pre-Depends: awk | mawk:any (>= 1.3.3-15), dpkg (>= 1.19)
Enhances: heldpkg-plugins
Recommends: rec-one,
 rec-two (>= 1)
Description: held

Package: halfpkg
Status: install reinstreq half-installed
Maintainer: x <x@example.com>
Architecture: amd64
Description: half

Package: unpackedpkg
Status: install ok unpacked
Maintainer: x <x@example.com>
Architecture: amd64
Version: 3.0
Config-Version: 2.0
Description: unpacked

Package: purgedpkg
Status: purge ok not-installed
Architecture: amd64

Package: g++-12
Status: install ok installed
Maintainer: x <x@example.com>
Architecture: amd64
Version: 12.2.0-14
Replaces: g++-12-multilib
Built-Using: gcc-12-src (= 12.2.0-14)
Description: c++
`

// adminDir writes a dpkg database folder with status and, by name, more
// files (a name ending in "/" is a folder).
func adminDir(t *testing.T, status string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"updates", "info", "triggers"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	files["status"] = status
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fixtureNames are names to ask about: all of fixtureStatus's but
// purgedpkg's (not-installed, declined), names only mentioned, unknown
// names.
var fixtureNames = []string{"zlib1g", "libc6", "oldpkg", "heldpkg", "halfpkg", "unpackedpkg", "g++-12",
	"libz1", "libgcc-s1", "debconf-2.0", "awk", "mawk", "dpkg", "heldpkg-plugins", "g++-12-multilib", "zlib1", "nscd",
	"triggered", "nowhere", "a", "gcc-12-src", "zlib", "glibc", "rec-one", "rec-two"}

// The states of the fixture, read in Go, as dpkg-query reads them.
func TestDpkgQueryFixtures(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("no dpkg-query here to compare with")
	}
	for name, tc := range map[string]struct {
		status string
		files  map[string]string
	}{
		"states":                {fixtureStatus, map[string]string{}},
		"trigger interests":     {fixtureStatus, map[string]string{"triggers/File": "/usr/lib/x triggered/noawait\n/usr/share/y libc6\n/usr/share/z zlib1g:amd64/noawait\n"}},
		"other files in update": {fixtureStatus, map[string]string{"updates/tmp.i": "Package: libc6\nStatus: purge ok not-installed\n"}},
		"empty Unincorp":        {fixtureStatus, map[string]string{"triggers/Unincorp": ""}},
		"blank lines":           {"\n" + strings.ReplaceAll(fixtureStatus, "\n\n", "\n\n\n"), map[string]string{}},
		"empty":                 {"", map[string]string{}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := adminDir(t, tc.status, tc.files)
			withAdminDir(t, dir)
			got, ok := dpkgQuery(fixtureNames)
			if !ok {
				t.Fatal("declined")
			}
			want := realDpkgQuery(t, dir, fixtureNames)
			if got != want {
				t.Errorf("differs from dpkg-query\n--- dpkg-query\n%s--- helper\n%s", want, got)
			}
			if name == "states" && !strings.Contains(got, "oldpkg deinstall ok config-files 0.9-1\n") {
				t.Errorf("no config-files line:\n%s", got)
			}
		})
	}
}

// Where dpkg-query could print something else, the helper declines.
func TestDpkgQueryDeclines(t *testing.T) {
	second := "\nPackage: libc6\nStatus: install ok installed\nMaintainer: x\nArchitecture: i386\nVersion: 2.36-9+deb12u4\nDescription: x\n"
	for name, tc := range map[string]struct {
		status string
		files  map[string]string
		names  []string
		env    string
	}{
		"journal":             {fixtureStatus, map[string]string{"updates/0000": "Package: libc6\nStatus: purge ok not-installed\n\n"}, nil, ""},
		"unincorporated":      {fixtureStatus, map[string]string{"triggers/Unincorp": "ldconfig libc-bin\n"}, nil, ""},
		"not-installed":       {fixtureStatus, map[string]string{}, []string{"purgedpkg"}, ""},
		"multi-arch":          {fixtureStatus + second, map[string]string{}, []string{"libc6"}, ""},
		"qualified interest":  {fixtureStatus, map[string]string{"triggers/File": "/usr/share/z oldpkg:amd64\n"}, []string{"oldpkg"}, ""},
		"other arch interest": {fixtureStatus, map[string]string{"triggers/File": "/usr/share/z libc6:i386/noawait\n"}, []string{"libc6"}, ""},
		"unknown interest":    {fixtureStatus, map[string]string{"triggers/File": "/usr/share/z nowhere:amd64\n"}, []string{"nowhere"}, ""},
		"odd interest":        {fixtureStatus, map[string]string{"triggers/File": "/usr/share/z libc6/await\n"}, nil, ""},
		"admindir env":        {fixtureStatus, map[string]string{}, nil, "DPKG_ADMINDIR"},
		"root env":            {fixtureStatus, map[string]string{}, nil, "DPKG_ROOT"},
		"crlf":                {strings.ReplaceAll(fixtureStatus, "\n", "\r\n"), map[string]string{}, nil, ""},
		"no final newline":    {strings.TrimSuffix(fixtureStatus, "\n"), map[string]string{}, nil, ""},
		"duplicate field":     {fixtureStatus + "\nPackage: x\nStatus: install ok installed\nVersion: 1\nversion: 2\n", map[string]string{}, nil, ""},
		"no status":           {fixtureStatus + "\nPackage: x\nVersion: 1\n", map[string]string{}, nil, ""},
		"bad status":          {fixtureStatus + "\nPackage: x\nStatus: install ok\nVersion: 1\n", map[string]string{}, nil, ""},
		"triggers pending":    {fixtureStatus + "\nPackage: x\nStatus: install ok triggers-pending\nTriggers-Pending: ldconfig\nVersion: 1\n", map[string]string{}, nil, ""},
		"triggers awaited":    {fixtureStatus + "\nPackage: x\nStatus: install ok triggers-awaited\nTriggers-Awaited: libc-bin\nVersion: 1\n", map[string]string{}, nil, ""},
		"zero epoch":          {fixtureStatus + "\nPackage: x\nStatus: install ok installed\nVersion: 0:1.0\n", map[string]string{}, nil, ""},
		"no version":          {fixtureStatus + "\nPackage: x\nStatus: install ok installed\n", map[string]string{}, nil, ""},
		"continued status":    {fixtureStatus + "\nPackage: x\nStatus: install ok\n installed\nVersion: 1\n", map[string]string{}, nil, ""},
		"odd relation":        {fixtureStatus + "\nPackage: x\nStatus: install ok installed\nVersion: 1\nDepends: ${misc:Depends}\n", map[string]string{}, nil, ""},
		"empty relation":      {fixtureStatus + "\nPackage: x\nStatus: install ok installed\nVersion: 1\nDepends:\n a\n", map[string]string{}, nil, ""},
		"empty alternative":   {fixtureStatus + "\nPackage: x\nStatus: install ok installed\nVersion: 1\nDepends: a, , b\n", map[string]string{}, nil, ""},
		"upper relation":      {fixtureStatus + "\nPackage: x\nStatus: install ok installed\nVersion: 1\nDepends: A\n", map[string]string{}, nil, ""},
		"two spaces":          {fixtureStatus + "\nPackage: x\nStatus: install  ok installed\nVersion: 1\n", map[string]string{}, nil, ""},
		"upper package":       {fixtureStatus + "\nPackage: X\nStatus: install ok installed\nVersion: 1\n", map[string]string{}, nil, ""},
		"blank continuation":  {fixtureStatus + "\nPackage: x\nStatus: install ok installed\nVersion: 1\nDescription: a\n \n", map[string]string{}, nil, ""},
		"continuation first":  {" x\n" + fixtureStatus, map[string]string{}, nil, ""},
		"field without colon": {fixtureStatus + "\nPackage: x\nStatus install ok installed\n", map[string]string{}, nil, ""},
		"no updates folder":   {fixtureStatus, map[string]string{}, nil, "no-updates"},
		"no status file":      {"", map[string]string{}, nil, "no-status"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := adminDir(t, tc.status, tc.files)
			withAdminDir(t, dir)
			switch tc.env {
			case "":
			case "no-updates":
				os.RemoveAll(filepath.Join(dir, "updates"))
			case "no-status":
				os.Remove(filepath.Join(dir, "status"))
			case "DPKG_ADMINDIR=":
				t.Setenv("DPKG_ADMINDIR", "")
			default:
				t.Setenv(tc.env, dir)
			}
			names := tc.names
			if names == nil {
				names = fixtureNames
			}
			if got, ok := dpkgQuery(names); ok {
				t.Errorf("answered, want a decline:\n%s", got)
			}
		})
	}
	// The journal matters: dpkg-query applies it.
	if _, err := exec.LookPath("dpkg-query"); err == nil {
		dir := adminDir(t, fixtureStatus, map[string]string{"updates/0000": "Package: libc6\nStatus: purge ok not-installed\nArchitecture: amd64\n\n"})
		if got := realDpkgQuery(t, dir, []string{"libc6"}); got == "libc6 install ok installed 2.36-9+deb12u4\n" {
			t.Errorf("dpkg-query with a journal: %q, as without", got)
		}
	}
	// A name with several stanzas is declined only when asked about.
	dir := adminDir(t, fixtureStatus+second, map[string]string{})
	withAdminDir(t, dir)
	if got, ok := dpkgQuery([]string{"zlib1g"}); !ok || got != "zlib1g install ok installed 1:1.2.13.dfsg-1\n" {
		t.Errorf("zlib1g: %v %q", ok, got)
	}
}

// The status file read in Go against dpkg-query, for a batch of ten names
// (go test -bench DpkgQuery ./internal/module/apt/).
func BenchmarkDpkgQuery(b *testing.B) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		b.Skip("no dpkg status file here")
	}
	names := []string{"nginx", "curl", "sudo", "dpkg", "libc6", "openssh-server", "ufw", "mysql-server", "sumocollector", "rsync"}
	b.Run("native", func(b *testing.B) {
		for b.Loop() {
			if _, ok := dpkgQuery(names); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("dpkg-query", func(b *testing.B) {
		for b.Loop() {
			exec.Command("dpkg-query", append([]string{"-W", queryFormat}, names...)...).Output()
		}
	})
}
