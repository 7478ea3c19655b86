package integration

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestBecomePassword deploys as a user whose sudo asks for a password:
// --ask-become-pass (from SKIFF_BECOME_PASSWORD, as there is no terminal)
// converges the host, the password never shows, and without the flag
// skiff says how to give it.
func TestBecomePassword(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	const password = "s3cret pass-word!#x"
	setup := `set -e
useradd --create-home --shell /bin/bash ops
printf 'ops:%s\n' ` + shq(password) + ` | chpasswd
printf 'ops ALL=(ALL:ALL) ALL\n' >/etc/sudoers.d/ops
chmod 0440 /etc/sudoers.d/ops
install -d -m 0700 -o ops -g ops /home/ops/.ssh
install -m 0600 -o ops -g ops /home/deploy/.ssh/authorized_keys /home/ops/.ssh/authorized_keys`
	if out, code := hostExec(t, c, "h1", setup); code != 0 {
		t.Fatalf("creating ops: exit %d: %s", code, out)
	}
	// Prove the premise: ops's sudo wants a password.
	if out, code := hostExec(t, c, "h1", "su ops -c 'sudo -n true' 2>&1"); code == 0 {
		t.Fatalf("sudo -n works for ops without a password: %s", out)
	}

	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": {"web"}}, ""); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	asOps := strings.Replace(string(src), `user        = "deploy"`, `user        = "ops"`, 1)
	if asOps == string(src) {
		t.Fatal("inventory has no deploy user line to replace")
	}
	if err := os.WriteFile(inv, []byte(asOps), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := c.Hosts[0].Address

	var outputs []string
	keep := func(r run) run {
		outputs = append(outputs, r.stdout, r.stderr)
		return r
	}

	t.Run("without the flag, the hint", func(t *testing.T) {
		r := keep(skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--output", "json"))
		st, _, msg := r.json.host("h1")
		if r.code != 1 || st != "failed" || !strings.Contains(msg, "sudo requires a password on h1") || !strings.Contains(msg, "--ask-become-pass") {
			t.Fatalf("plan without --ask-become-pass: exit %d, h1 %s: %q", r.code, st, msg)
		}
	})

	t.Run("no terminal and no variable is an error", func(t *testing.T) {
		t.Setenv("SKIFF_BECOME_PASSWORD", "")
		r := keep(skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--ask-become-pass"))
		if r.code != 1 || !strings.Contains(r.stderr, "SKIFF_BECOME_PASSWORD is not set") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("a wrong password is refused", func(t *testing.T) {
		t.Setenv("SKIFF_BECOME_PASSWORD", "not-"+password)
		r := keep(skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--ask-become-pass", "--output", "json"))
		st, _, msg := r.json.host("h1")
		if r.code != 1 || st != "failed" || !strings.Contains(msg, "sudo rejected the password on h1") {
			t.Fatalf("wrong password: exit %d, h1 %s: %q", r.code, st, msg)
		}
	})

	t.Run("apply converges with --ask-become-pass", func(t *testing.T) {
		t.Setenv("SKIFF_BECOME_PASSWORD", password)
		r := keep(skiff(t, "apply", "-i", inv, "playbooks/demo.hcl", "--yes", "--ask-become-pass", "--output", "json"))
		if r.code != 0 || r.json.Summary.Changed != 1 || r.json.Summary.Failed != 0 {
			t.Fatalf("apply: exit %d, summary %+v\n%s", r.code, r.json.Summary, r.stderr)
		}
		if code, body := waitPage(t, "http://"+addr+"/", "Served by"); code != 200 || !strings.Contains(body, "Served by h1") {
			t.Errorf("h1 serves %d: %s", code, body)
		}
		// Written through sudo: owned by root.
		if out, _ := hostExec(t, c, "h1", "stat -c %U /var/www/demo/index.html /etc/nginx/sites-available/demo"); out != "root\nroot\n" {
			t.Errorf("owners: %q, want root", out)
		}
		r = keep(skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--ask-become-pass", "--detailed-exitcode"))
		if r.code != 0 || !strings.Contains(r.stdout, "no changes") {
			t.Fatalf("plan after apply: exit %d\n%s", r.code, r.stdout)
		}
	})

	t.Run("the password shows nowhere", func(t *testing.T) {
		for _, out := range outputs {
			if strings.Contains(out, password) || strings.Contains(out, "pass-word") {
				t.Fatalf("the password appears in skiff's output:\n%s", out)
			}
		}
	})
}

// TestBastion deploys to a host this machine cannot reach, through web1:
// first with the inventory's bastion, then with a ProxyJump (and a HostName
// alias) in an ssh_config file.
func TestBastion(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Docker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := testhosts.Start(ctx, testhosts.Options{
		Prefix:   testhosts.UniquePrefix(t.Name()),
		Hosts:    []string{"web1", "db1"},
		Internal: []string{"db1"},
		Gateways: []string{"web1"},
		Dir:      t.TempDir(),
		Logf:     t.Logf,
	})
	if err != nil {
		t.Fatalf("starting test hosts: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	web1, _ := c.Host("web1")
	db1, _ := c.Host("db1")
	bastion := "deploy@" + web1.Address + ":22"
	t.Setenv("SKIFF_SSH_CONFIG", filepath.Join(t.TempDir(), "absent"))

	dir := t.TempDir()
	direct := filepath.Join(dir, "direct.hcl")
	if err := c.WriteInventory(direct, map[string][]string{"web1": {"web"}, "db1": {"db"}}, ""); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile(direct)
	dbAddr := `address = "` + db1.Address + `"`
	rewrite := func(name, new string) string {
		if !strings.Contains(string(src), dbAddr) {
			t.Fatalf("no %s in the inventory", dbAddr)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Replace(string(src), dbAddr, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	viaInventory := rewrite("bastion.hcl", dbAddr+"\n  bastion = \""+bastion+"\"")
	viaAlias := rewrite("alias.hcl", `address = "db1.internal"`)

	t.Run("db1 is unreachable directly", func(t *testing.T) {
		// No SSH banner: the machine has no route of its own to the
		// internal network (a TCP connect alone may be taken by whatever
		// sits on the default route).
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(db1.Address, "22"), 3*time.Second); err == nil {
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			banner := make([]byte, 4)
			n, _ := conn.Read(banner)
			conn.Close()
			if string(banner[:n]) == "SSH-" {
				t.Fatalf("this machine reaches db1's sshd (%s) directly", db1.Address)
			}
		}
		r := skiff(t, "plan", "-i", direct, "playbooks/demo.hcl", "--output", "json", "--connect-timeout", "3s")
		if st, _, _ := r.json.host("db1"); r.code != 1 || st != "unreachable" {
			t.Fatalf("direct plan: exit %d, db1 %s", r.code, st)
		}
		if st, _, _ := r.json.host("web1"); st != "changed" {
			t.Errorf("web1: %s, want changed (to be made)", st)
		}
	})

	t.Run("apply through the inventory's bastion", func(t *testing.T) {
		r := skiff(t, "apply", "-i", viaInventory, "playbooks/demo.hcl", "--yes", "--output", "json")
		if r.code != 0 || r.json.Summary.Changed != 2 || r.json.Summary.Failed+r.json.Summary.Unreachable != 0 {
			t.Fatalf("apply: exit %d, summary %+v\n%s", r.code, r.json.Summary, r.stderr)
		}
		// nginx's reload returns before its new workers answer: the old
		// ones may serve the default page a moment longer.
		eventually(t, 30*time.Second, "db1 serving the demo page (seen from web1)", func() (bool, string) {
			out, _ := hostExec(t, c, "web1", "curl -s http://"+db1.Address+"/")
			return strings.Contains(out, "Served by db1"), out
		})
		r = skiff(t, "plan", "-i", viaInventory, "playbooks/demo.hcl", "--detailed-exitcode")
		if r.code != 0 {
			t.Fatalf("plan after apply: exit %d\n%s", r.code, r.stdout)
		}
	})

	t.Run("ProxyJump and HostName from ssh_config", func(t *testing.T) {
		cfg := filepath.Join(dir, "ssh_config")
		text := "Host db1.internal\n  HostName " + db1.Address + "\n  ProxyJump " + bastion + "\n"
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SKIFF_SSH_CONFIG", cfg)
		hostExec(t, c, "db1", "rm -f /var/www/demo/index.html")
		r := skiff(t, "apply", "-i", viaAlias, "playbooks/demo.hcl", "--yes", "--output", "json")
		if st, n, msg := r.json.host("db1"); r.code != 0 || st != "changed" || n == 0 {
			t.Fatalf("apply via ssh_config: exit %d, db1 %s (%d changes) %q", r.code, st, n, msg)
		}
		if _, code := hostExec(t, c, "db1", "test -s /var/www/demo/index.html"); code != 0 {
			t.Error("the page was not restored on db1")
		}
	})
}
