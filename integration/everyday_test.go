package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// deb is a Debian binary package: an ar archive of debian-binary,
// control.tar.gz and data.tar.gz, built here so that the vendor's
// repository of the test has packages apt can install.
type deb struct {
	name, version string
	control       string // the control file
	bytes         []byte
}

func buildDeb(t *testing.T, name, version string) deb {
	t.Helper()
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: skiff tests <tests@example.org>\nDescription: a package only the vendor's repository has\n", name, version)
	ctl := tgz(t, map[string]string{"./": "", "./control": control}, "./", "./control")
	data := tgz(t, map[string]string{"./": "", "./usr/": "", "./usr/share/": "", "./usr/share/" + name + "/": "", "./usr/share/" + name + "/VERSION": version + "\n"},
		"./", "./usr/", "./usr/share/", "./usr/share/"+name+"/", "./usr/share/"+name+"/VERSION")
	b := []byte("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", ctl}, {"data.tar.gz", data}} {
		b = append(b, fmt.Sprintf("%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 1700000000, 0, 0, "100644", len(m.data))...)
		b = append(b, m.data...)
		if len(m.data)%2 == 1 {
			b = append(b, '\n')
		}
	}
	return deb{name: name, version: version, control: control, bytes: b}
}

// vendorRepo returns the files of a flat apt repository ("./" suite)
// holding debs, signed by k.
func vendorRepo(k *pgpKey, debs ...deb) map[string][]byte {
	files := map[string][]byte{}
	var packages strings.Builder
	for _, d := range debs {
		file := fmt.Sprintf("%s_%s_all.deb", d.name, d.version)
		files[file] = d.bytes
		fmt.Fprintf(&packages, "%sFilename: %s\nSize: %d\nSHA256: %s\n\n", d.control, file, len(d.bytes), sha(d.bytes))
	}
	release := fmt.Sprintf("Origin: vendor\nLabel: vendor\nDate: %s\nSHA256:\n %s %d Packages\n",
		time.Now().Add(-time.Hour).UTC().Format(time.RFC1123), sha([]byte(packages.String())), packages.Len())
	files["Packages"] = []byte(packages.String())
	files["Release"] = []byte(release)
	files["Release.gpg"] = k.detached([]byte(release))
	return files
}

// release is the app's release archive: its migration fails until its
// third try (the database it waits for is still starting), counting the
// tries in /var/lib/app/tries.
func release(t *testing.T, version string) []byte {
	const migrate = `n=$(cat /var/lib/app/tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > /var/lib/app/tries
[ "$n" -ge 3 ] || { echo "database not ready yet" >&2; exit 1; }
touch "/var/lib/app/migrated-$1"
`
	d := "app-" + version + "/"
	return tgz(t, map[string]string{d: "", d + "bin/": "", d + "bin/migrate": migrate, d + "VERSION": version + "\n"}, d, d+"bin/", d+"bin/migrate", d+"VERSION")
}

// TestEverydayRoleOnARealHost: integration/testdata/roles/everyday, a role
// that uses for_each, retries, tags, become_user and every kind an
// operator's own server needs first, plans every change, converges in one
// apply (after a run under --tags), plans clean on the second run, rolls
// back what it can when a later task fails (and says what it cannot), and
// `skiff rollback` of a whole run puts the host back.
func TestEverydayRoleOnARealHost(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": {"web"}}, ""); err != nil {
		t.Fatal(err)
	}
	// The role as an operator keeps it, with the vendor's key in files/.
	root, _ := testhosts.RepoRoot()
	os.MkdirAll(filepath.Join(dir, "roles"), 0o755)
	os.MkdirAll(filepath.Join(dir, "playbooks"), 0o755)
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "integration", "testdata", "roles", "everyday"), filepath.Join(dir, "roles")).CombinedOutput(); err != nil {
		t.Fatalf("copying the role: %v\n%s", err, out)
	}
	if out, err := exec.Command("cp", filepath.Join(root, "integration", "testdata", "playbooks", "everyday.hcl"), filepath.Join(dir, "playbooks")).CombinedOutput(); err != nil {
		t.Fatalf("copying the playbook: %v\n%s", err, out)
	}
	pb := filepath.Join(dir, "playbooks", "everyday.hcl")
	key := newPGPKey(t)
	os.MkdirAll(filepath.Join(dir, "roles", "everyday", "files"), 0o755)
	os.WriteFile(filepath.Join(dir, "roles", "everyday", "files", "vendor.asc"), armoredKey(key), 0o644)

	www := map[string][]byte{}
	var sums strings.Builder
	for _, v := range []string{"1.0", "2.0", "3.0"} {
		www["app-"+v+".tar.gz"] = release(t, v)
		fmt.Fprintf(&sums, "%s  app-%s.tar.gz\n", sha(www["app-"+v+".tar.gz"]), v)
	}
	v1 := www["app-1.0.tar.gz"]
	www["SHA256SUMS"] = []byte(sums.String())
	for n, b := range vendorRepo(key, buildDeb(t, "skiff-hello", "1.0"), buildDeb(t, "skiff-hello", "1.1")) {
		www["repo/"+n] = b
	}
	g := setUpGetHost(t, c, "h1", inv, dir, www)
	// Docker mounts /proc/sys read-only in a container; its network
	// namespace's parameters (net.core.somaxconn is one) are its own once
	// it is writable.
	if out, code := hostExec(t, c, "h1", "mount -o remount,rw /proc/sys && echo 4096 > /proc/sys/net/core/somaxconn"); code != 0 {
		t.Fatalf("setup: %s", out)
	}

	// state is what the role manages and a rollback restores (not what the
	// migration, which cannot be undone, leaves in /var/lib/app).
	const state = "sha256sum /etc/ssh/sshd_config /etc/security/limits.conf; grep -n MaxAuthTries /etc/ssh/sshd_config; " +
		"cat /proc/sys/net/core/somaxconn; cat /etc/sysctl.d/60-sites.conf 2>&1; " +
		"for f in /etc/cron.d/skiff-rotate-*; do echo \"$f: $(tail -n 1 $f)\"; done; " +
		"find /srv/sites /opt/dist /opt/app -printf '%p %u %m\\n' 2>&1 | sort; cat /srv/sites/*/index.html /srv/sites/*/deployed.txt /opt/app/current/VERSION 2>&1; " +
		"cat /etc/apt/sources.list.d/vendor.sources 2>&1; sha256sum /etc/apt/keyrings/vendor.asc 2>&1; " +
		"dpkg-query -W -f='${db:Status-Status} ${Version}\\n' skiff-hello 2>&1; cat /usr/share/skiff-hello/VERSION 2>&1; " +
		"git -C /opt/tools rev-parse HEAD 2>&1; cat /opt/tools/VERSION 2>&1; id ann 2>&1; id bob 2>&1"
	pristine, _ := hostExec(t, c, "h1", state)

	plan := func(t *testing.T, extra ...string) run {
		t.Helper()
		return skiff(t, append([]string{"plan", "-i", inv, pb, "--output", "json"}, extra...)...)
	}
	apply := func(t *testing.T, extra ...string) run {
		t.Helper()
		return skiff(t, append([]string{"apply", "-i", inv, pb, "--yes", "--output", "json"}, extra...)...)
	}
	changes := func(r run) []string { // "action task", sorted
		var out []string
		for _, h := range r.json.Hosts {
			for _, ch := range h.Changes {
				out = append(out, ch.Action+" "+ch.Task)
			}
		}
		sort.Strings(out)
		return out
	}
	summaries := func(r run) map[string]string {
		out := map[string]string{}
		for _, h := range r.json.Hosts {
			for _, ch := range h.Changes {
				out[ch.Task] = ch.Summary
			}
		}
		return out
	}
	list := func(l []string) string { return strings.Join(l, "\n") }
	without := func(all []string, drop ...string) []string {
		var out []string
	next:
		for _, s := range all {
			for _, d := range drop {
				if s == d {
					continue next
				}
			}
			out = append(out, s)
		}
		return out
	}

	hardening := []string{`update block_in_file.limits`, `update line_in_file.sshd`, `update sysctl.somaxconn`}
	every := []string{
		`create apt_repository.vendor`, `create cron.rotate["blog"]`, `create cron.rotate["shop"]`,
		`create directory.dist`, `create directory.site["blog"]`, `create directory.site["shop"]`, `create directory.sites`, `create directory.state`,
		`create download.app`, `create file.index["blog"]`, `create file.index["shop"]`, `create git.tools`, `create package.hello`,
		`create unarchive.app`, `create user.owner["blog"]`, `create user.owner["shop"]`,
		`run command.migrate`, `run command.stamp["blog"]`, `run command.stamp["shop"]`,
		`update block_in_file.limits`, `update line_in_file.sshd`, `update sysctl.somaxconn`,
	}

	t.Run("plan reads only and lists every change", func(t *testing.T) {
		r := plan(t)
		if got := changes(r); r.code != 0 || list(got) != list(every) {
			t.Fatalf("plan: exit %d\n%s\nwant\n%s\n%s", r.code, list(got), list(every), r.stderr)
		}
		s := summaries(r)
		for task, want := range map[string]string{
			`command.stamp["blog"]`: "(as ann)",
			"git.tools":             "clone /srv/git/app.git at v1 (" + g.commits[0][:12] + ") into /opt/tools",
			"package.hello":         "skiff-hello",
			"download.app":          "download http://127.0.0.1:8088/app-1.0.tar.gz to /opt/dist/app-1.0.tar.gz (sha256 " + sha(v1)[:12] + ")",
			"sysctl.somaxconn":      "net.core.somaxconn = 1024: live 4096 -> 1024",
		} {
			if !strings.Contains(s[task], want) {
				t.Errorf("%s: %q, want it to say %q", task, s[task], want)
			}
		}
		if now, _ := hostExec(t, c, "h1", state); now != pristine {
			t.Fatalf("plan changed the host:\n%s\nwas:\n%s", now, pristine)
		}
	})

	t.Run("tags choose the tasks", func(t *testing.T) {
		r := plan(t, "--tags", "hardening,tuning", "--skip-tags", "tuning")
		if got := changes(r); r.code != 0 || list(got) != list(hardening[:2]) {
			t.Fatalf("plan --tags hardening,tuning --skip-tags tuning: exit %d\n%s", r.code, list(got))
		}
		if r := plan(t, "--skip-tags", "everyday"); r.code != 0 || len(changes(r)) != 0 {
			t.Fatalf("plan --skip-tags everyday (the role's tag in the play): exit %d\n%s", r.code, list(changes(r)))
		}
		r = apply(t, "--tags", "hardening,tuning")
		if got := changes(r); r.code != 0 || list(got) != list(hardening) {
			t.Fatalf("apply --tags hardening,tuning: exit %d\n%s\n%s", r.code, list(got), r.stderr)
		}
		out, _ := hostExec(t, c, "h1", "cat /proc/sys/net/core/somaxconn; grep '^MaxAuthTries' /etc/ssh/sshd_config; ls /opt /srv 2>&1; id ann 2>&1")
		if want := "1024\nMaxAuthTries 3\n"; !strings.HasPrefix(out, want) || strings.Contains(out, "dist") || strings.Contains(out, "sites") || !strings.Contains(out, "no such user") {
			t.Fatalf("after apply --tags hardening,tuning, want only those changed:\n%s", out)
		}
		if r := plan(t, "--skip-tags", "hardening,tuning"); list(changes(r)) != list(without(every, hardening...)) {
			t.Fatalf("plan --skip-tags hardening,tuning:\n%s\nwant\n%s", list(changes(r)), list(without(every, hardening...)))
		}
	})

	t.Run("apply converges, the second plan is clean", func(t *testing.T) {
		r := apply(t)
		if got := changes(r); r.code != 0 || list(got) != list(without(every, hardening...)) {
			t.Fatalf("apply: exit %d\n%s\n%s", r.code, list(got), r.stderr)
		}
		if got := langChanges(t, r)["command.migrate"].Tries; got != 3 {
			t.Errorf("the migration took %d tries, want 3 (it fails twice)", got)
		}
		if !strings.Contains(r.stderr, "everyday/everyday command.migrate: took 3 tries") {
			t.Errorf("the recap does not tell the tries:\n%s", r.stderr)
		}
		out, _ := hostExec(t, c, "h1", state+"; cat /var/lib/app/tries; ls /var/lib/app")
		for _, want := range []string{
			"MaxAuthTries 3\n", "1024\nnet.core.somaxconn = 1024\n",
			"/etc/cron.d/skiff-rotate-blog: @daily ann find /srv/sites/blog -name '*.log' -mtime +7 -delete\n",
			"/srv/sites/blog ann 755\n/srv/sites/blog/deployed.txt ann 644\n/srv/sites/blog/index.html ann 644\n",
			"/srv/sites/shop/deployed.txt bob 644\n", "/opt/dist/app-1.0.tar.gz root 640\n",
			"<h1>blog</h1>\n<p>release 1.0</p>\n", "ann in /srv/sites/blog\nbob in /srv/sites/shop\n1.0\n",
			"URIs: http://127.0.0.1:8088/repo\nSuites: ./\nArchitectures: amd64\nSigned-By: /etc/apt/keyrings/vendor.asc\n",
			"installed 1.0\n1.0\n", g.commits[0] + "\n1\n", "\n3\nmigrated-1.0\ntries\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("host state lacks %q:\n%s", want, out)
			}
		}
		if out, _ := hostExec(t, c, "h1", "grep -A3 'BEGIN SKIFF' /etc/security/limits.conf"); out != "# BEGIN SKIFF MANAGED BLOCK\nann soft nofile 65536\nbob soft nofile 65536\n# END SKIFF MANAGED BLOCK\n" {
			t.Errorf("limits block:\n%s", out)
		}
		if r := plan(t); r.code != 0 || len(changes(r)) != 0 {
			t.Fatalf("second plan: exit %d\n%s", r.code, list(changes(r)))
		}
		if r := apply(t); r.code != 0 || r.json.Summary.Changed != 0 || len(changes(r)) != 0 {
			t.Fatalf("second apply: exit %d, changed %d\n%s", r.code, r.json.Summary.Changed, list(changes(r)))
		}
		if n := g.fetches(t, "app-1.0.tar.gz"); n != 1 {
			t.Errorf("the release was fetched %d times, want once", n)
		}
	})

	next := []string{"-e", "release=2.0", "-e", "max_auth_tries=4", "-e", "nofile=4096", "-e", "somaxconn=512", "-e", "rotate_schedule=*/30 * * * *",
		"-e", `vendor_archs=["amd64","all"]`, "-e", "hello_version=1.1", "-e", "tools_ref=main"}

	t.Run("a failure later in the play rolls back what can be rolled back", func(t *testing.T) {
		converged, _ := hostExec(t, c, "h1", state)
		r := plan(t, next...)
		want := []string{
			`create download.app`, `run command.migrate`, `update apt_repository.vendor`, `update block_in_file.limits`,
			`update cron.rotate["blog"]`, `update cron.rotate["shop"]`, `update file.index["blog"]`, `update file.index["shop"]`,
			`update git.tools`, `update line_in_file.sshd`, `update package.hello`, `update sysctl.somaxconn`, `update unarchive.app`,
		}
		if got := changes(r); list(got) != list(want) {
			t.Errorf("plan of the next release:\n%s\nwant\n%s", list(got), list(want))
		}
		s := summaries(r)
		for task, want := range map[string]string{
			"package.hello": "change skiff-hello 1.0 -> 1.1",
			"git.tools":     "move /opt/tools from " + g.commits[0][:12] + " to " + g.commits[1][:12] + " at main (" + g.commits[1][:12] + ")",
		} {
			if s[task] != want {
				t.Errorf("%s: %q, want %q", task, s[task], want)
			}
		}
		r = apply(t, append(next, "-e", "fail=yes")...)
		st, _, msg := r.json.host("h1")
		if r.code == 0 || st != "failed" || !strings.Contains(msg, "command.fail") || !strings.Contains(msg, "rolled back 12 of 14 change(s)") ||
			!strings.Contains(msg, "(everyday command.fail cannot be undone; everyday command.migrate cannot be undone)") {
			t.Fatalf("apply: exit %d, h1 %s %q", r.code, st, msg)
		}
		if now, _ := hostExec(t, c, "h1", state); now != converged {
			t.Fatalf("after the rollback:\n%s\nwant as before the run:\n%s", now, converged)
		}
		if out, _ := hostExec(t, c, "h1", "ls /var/lib/app"); !strings.Contains(out, "migrated-2.0") {
			t.Errorf("the migration, which cannot be undone, is left as it is: %q", out)
		}
		if r := plan(t); r.code != 0 || len(changes(r)) != 0 {
			t.Fatalf("plan after the rollback: %v", changes(r))
		}
	})

	t.Run("skiff rollback of a whole run restores the host", func(t *testing.T) {
		converged, _ := hostExec(t, c, "h1", state)
		r := apply(t, append(next, "-e", "release=3.0")...)
		if r.code != 0 {
			t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
		}
		out, _ := hostExec(t, c, "h1", state)
		for _, want := range []string{"MaxAuthTries 4\n", "512\nnet.core.somaxconn = 512\n", "skiff-rotate-shop: */30 * * * * bob ", "Architectures: amd64 all\n",
			"installed 1.1\n1.1\n", g.commits[1] + "\n2\n", "<p>release 3.0</p>", "/opt/dist/app-3.0.tar.gz root 640\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("after the run, the host lacks %q:\n%s", want, out)
			}
		}
		r = skiff(t, "rollback", "-i", inv, "--yes", "--output", "json")
		if st, _, msg := r.json.host("h1"); r.code != 0 {
			t.Fatalf("rollback: exit %d, h1 %s: %s\n%s", r.code, st, msg, r.stderr)
		}
		if s := summaries(r)["command.migrate"]; !strings.HasSuffix(s, "(cannot be undone: left as is)") {
			t.Errorf("the rollback does not say the migration cannot be undone: %q", s)
		}
		if out, _ := hostExec(t, c, "h1", "ls /var/lib/app"); !strings.Contains(out, "migrated-3.0") {
			t.Errorf("the migration, which cannot be undone, is left as it is: %q", out)
		}
		if now, _ := hostExec(t, c, "h1", state); now != converged {
			t.Fatalf("after skiff rollback:\n%s\nwant as before the run:\n%s", now, converged)
		}
		if r := plan(t); r.code != 0 || len(changes(r)) != 0 {
			t.Fatalf("plan after the rollback: %v", changes(r))
		}
	})
}
