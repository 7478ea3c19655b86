package integration

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// digest prints sha256, mode and owner of files on a host ("-" when absent).
func digest(t *testing.T, c *testhosts.Cluster, host string, files ...string) string {
	t.Helper()
	var b strings.Builder
	for _, f := range files {
		out, _ := hostExec(t, c, host, "if [ -e "+f+" ]; then sha256sum "+f+" | cut -c1-64; stat -c '%a %U' "+f+"; else echo -; fi")
		b.WriteString(f + ": " + strings.ReplaceAll(strings.TrimSpace(out), "\n", " ") + "\n")
	}
	return b.String()
}

// TestSafetyOnRealHosts proves rollback, locking, saved plans and
// interrupted runs on two real hosts.
func TestSafetyOnRealHosts(t *testing.T) {
	c := startCluster(t, []string{"h1", "h2"}, nil)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": {"web"}, "h2": {"web"}}, ""); err != nil {
		t.Fatal(err)
	}
	addr := map[string]string{}
	for _, h := range c.Hosts {
		addr[h.Name] = h.Address
	}
	header := func(host string) string {
		out, _ := exec.Command("curl", "-sS", "-o", "/dev/null", "-D", "-", "--max-time", "5", "http://"+addr[host]+"/").CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(strings.ToLower(l), "x-skiff-version:") {
				return strings.TrimSpace(l[len("x-skiff-version:"):])
			}
		}
		return ""
	}
	if r := skiff(t, "apply", "-i", inv, "playbooks/demo.hcl", "--yes"); r.code != 0 {
		t.Fatalf("baseline demo: exit %d", r.code)
	}
	if r := skiff(t, "apply", "-i", inv, "integration/testdata/playbooks/three_then_fail.hcl", "--yes"); r.code != 0 {
		t.Fatalf("baseline v1: exit %d\n%s", r.code, r.stdout)
	}

	t.Run("a failing role is rolled back: files identical, service on the old config", func(t *testing.T) {
		files := []string{"/etc/skiff-test/one.conf", "/etc/skiff-test/two.conf", "/etc/nginx/sites-available/demo", "/etc/skiff-test/broken.conf"}
		before := digest(t, c, "h1", files...)
		eventually(t, 10*time.Second, "v1 header", func() (bool, string) { h := header("h1"); return h == "v1", h })
		r := skiff(t, "apply", "-i", inv, "integration/testdata/playbooks/three_then_fail.hcl", "--yes", "--output", "json",
			"-e", "version=2", "-e", "fail=yes")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1", r.code)
		}
		for _, h := range r.json.Hosts {
			if h.Status != "failed" || !strings.Contains(h.Error, "rolled back 5 of 5") || !strings.Contains(h.Error, "broken") {
				t.Errorf("%s: %s: %s", h.Name, h.Status, h.Error)
			}
		}
		if !strings.Contains(r.stderr, "rolled back") {
			t.Errorf("the recap does not say rolled back:\n%s", r.stderr)
		}
		if after := digest(t, c, "h1", files...); after != before {
			t.Errorf("files differ after the rollback:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		// The failed run had reloaded nginx on v2; the rollback reloaded it on v1.
		eventually(t, 10*time.Second, "nginx back on v1", func() (bool, string) { h := header("h1"); return h == "v1", h })
		if out, _ := hostExec(t, c, "h1", "systemctl is-active nginx"); strings.TrimSpace(out) != "active" {
			t.Errorf("nginx is %s", out)
		}
	})

	t.Run("skiff rollback restores a changed template", func(t *testing.T) {
		const page, site = "/var/www/demo/index.html", "/etc/nginx/sites-available/demo"
		before := digest(t, c, "h2", page, site)
		changed := skiff(t, "apply", "-i", inv, "playbooks/demo.hcl", "--yes", "--output", "json", "-e", "greeting=Changed greeting")
		if changed.code != 0 {
			t.Fatalf("apply: exit %d", changed.code)
		}
		if out, _ := hostExec(t, c, "h2", "cat "+page); !strings.Contains(out, "Changed greeting") {
			t.Fatalf("page not changed: %s", out)
		}
		r := skiff(t, "rollback", "-i", inv, "--yes", "--output", "json")
		if r.code != 0 || r.json.Mode != "rollback" {
			t.Fatalf("rollback: exit %d, mode %q\n%s", r.code, r.json.Mode, r.stderr)
		}
		if !strings.Contains(r.stderr, "template.index") {
			t.Errorf("rollback did not show what it would undo:\n%s", r.stderr)
		}
		if after := digest(t, c, "h2", page, site); after != before {
			t.Errorf("page not restored:\n%s\nwant\n%s", after, before)
		}
		if r := skiff(t, "rollback", "-i", inv, "--run", changed.json.RunID, "--yes"); r.code != 0 || !strings.Contains(r.stderr, "Nothing to roll back") {
			t.Errorf("second rollback: exit %d\n%s", r.code, r.stderr)
		}
	})

	t.Run("a saved plan is refused where a planned file changed by hand", func(t *testing.T) {
		planFile := filepath.Join(dir, "plan.json")
		r := skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--out", planFile, "-e", "greeting=Planned")
		if r.code != 0 {
			t.Fatalf("plan --out: exit %d", r.code)
		}
		hostExec(t, c, "h2", "echo 'edited by hand' > /var/www/demo/index.html")
		r = skiff(t, "apply", planFile, "--yes", "--output", "json")
		if r.code != 1 {
			t.Fatalf("apply of the plan: exit %d, want 1", r.code)
		}
		st2, _, msg := r.json.host("h2")
		if st2 != "failed" || !strings.Contains(msg, "template.index") || !strings.Contains(msg, "refused") {
			t.Errorf("h2: %s %q", st2, msg)
		}
		if st1, _, _ := r.json.host("h1"); st1 != "changed" {
			t.Errorf("h1: %s, want changed", st1)
		}
		if out, _ := hostExec(t, c, "h1", "cat /var/www/demo/index.html"); !strings.Contains(out, "Planned") {
			t.Errorf("h1 not applied: %s", out)
		}
		if out, _ := hostExec(t, c, "h2", "cat /var/www/demo/index.html"); strings.TrimSpace(out) != "edited by hand" {
			t.Errorf("h2 was changed: %s", out)
		}
	})

	t.Run("two concurrent applies: one is refused with the holder's name", func(t *testing.T) {
		first := exec.Command(skiffBin, "apply", "-i", inv, "integration/testdata/playbooks/slow.hcl", "--yes", "-e", "stamp=a", "-e", "seconds=5")
		root, _ := testhosts.RepoRoot()
		first.Dir = root
		var firstErr bytes.Buffer
		first.Stderr = &firstErr
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the first run's locks", func() (bool, string) {
			_, c1 := hostExec(t, c, "h1", "test -s /var/lib/skiff/lock")
			_, c2 := hostExec(t, c, "h2", "test -s /var/lib/skiff/lock")
			return c1 == 0 && c2 == 0, ""
		})
		r := skiff(t, "apply", "-i", inv, "integration/testdata/playbooks/slow.hcl", "--yes", "-e", "stamp=b")
		if err := first.Wait(); err != nil {
			t.Errorf("first run: %v\n%s", err, firstErr.String())
		}
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "deploy lock held by") || !strings.Contains(r.stdout+r.stderr, "@") {
			t.Errorf("second run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if out, _ := hostExec(t, c, "h1", "cat /etc/skiff-slow-after"); strings.TrimSpace(out) != "a" {
			t.Errorf("the refused run changed h1: %q", out)
		}
		if r := skiff(t, "lock", "status", "-i", inv); r.code != 0 || strings.Contains(r.stdout, "held") {
			t.Errorf("locks not released:\n%s", r.stdout)
		}
	})

	t.Run("ctrl-c: the task under way finishes, the play is undone, locks released", func(t *testing.T) {
		before := digest(t, c, "h1", "/etc/skiff-slow-before", "/etc/skiff-slow-after")
		cmd := exec.Command(skiffBin, "apply", "-i", inv, "integration/testdata/playbooks/slow.hcl", "--yes", "-e", "stamp=c", "-e", "seconds=3")
		root, _ := testhosts.RepoRoot()
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the slow command running", func() (bool, string) {
			_, code := hostExec(t, c, "h1", "pgrep -x sleep")
			return code == 0, ""
		})
		_ = cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("interrupted run: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "rolled back") {
			t.Errorf("output does not say interrupted and rolled back:\n%s", out.String())
		}
		if after := digest(t, c, "h1", "/etc/skiff-slow-before", "/etc/skiff-slow-after"); after != before {
			t.Errorf("files after the interrupt:\n%s\nwant\n%s", after, before)
		}
		if r := skiff(t, "lock", "status", "-i", inv); r.code != 0 || strings.Contains(r.stdout, "held") {
			t.Errorf("locks not released:\n%s", r.stdout)
		}
	})

	t.Run("kill -9 during an upload: no partial file; the next apply converges", func(t *testing.T) {
		big := filepath.Join(dir, "big.bin")
		data := make([]byte, 256<<20)
		_, _ = rand.Read(data)
		if err := os.WriteFile(big, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(skiffBin, "apply", "-i", inv, "integration/testdata/playbooks/bigfile.hcl", "--yes", "-e", "big="+big, "--limit", "h1")
		root, _ := testhosts.RepoRoot()
		cmd.Dir = root
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait, on the host, for the upload to appear in the staging folder
		// (polling every 20 ms), then kill skiff at once.
		if out, code := hostExec(t, c, "h1", "for i in $(seq 3000); do ls /var/lib/skiff/staging/*.upload >/dev/null 2>&1 && exit 0; sleep 0.02; done; exit 1"); code != 0 {
			t.Fatalf("the upload never started: %s", out)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// The live file is absent, or whole if the upload won the race: never partial.
		local, _ := exec.Command("sh", "-c", "sha256sum < "+big+" | cut -c1-64").Output()
		if out, code := hostExec(t, c, "h1", "test -e /opt/big.bin && sha256sum < /opt/big.bin | cut -c1-64"); code == 0 && out != string(local) {
			t.Fatalf("a partial /opt/big.bin is live")
		}
		r := skiff(t, "apply", "-i", inv, "integration/testdata/playbooks/bigfile.hcl", "--yes", "-e", "big="+big, "--limit", "h1")
		if r.code != 0 {
			t.Fatalf("next apply: exit %d\n%s", r.code, r.stderr)
		}
		out, _ := hostExec(t, c, "h1", "sha256sum < /opt/big.bin | cut -c1-64; ls -a /opt")
		if !strings.HasPrefix(out, string(local)) || strings.Contains(out, ".skiff-") {
			t.Errorf("after the next apply: %s (local sha %s)", out, local)
		}
	})
}
