package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// editRole edits two files the system ships (sshd's config, validated by
// sshd itself, and PAM's limits), sets a kernel parameter of the host's
// own network namespace and writes a cron job; a last task fails on
// demand, to prove the rollback.
const editRole = `
variable "alive" { default = "300" }
variable "nofile" { default = "65536" }
variable "somaxconn" { default = "1024" }
variable "schedule" { default = "*/5 * * * *" }
variable "fail" { default = "no" }

task "line_in_file" "alive" {
  path     = "/etc/ssh/sshd_config"
  regexp   = "^#?ClientAliveInterval "
  line     = "ClientAliveInterval ${var.alive}"
  validate = "/usr/sbin/sshd -t -f %s"
}
task "block_in_file" "limits" {
  path          = "/etc/security/limits.conf"
  block         = "deploy soft nofile ${var.nofile}\ndeploy hard nofile ${var.nofile}\n"
  insert_before = "^# End of file"
}
task "sysctl" "somaxconn" {
  name  = "net.core.somaxconn"
  value = var.somaxconn
}
task "cron" "rotate" {
  name     = "rotate"
  schedule = var.schedule
  command  = "date +%F >> /var/log/rotate.log"
}
task "command" "fail" {
  when    = var.fail == "yes"
  command = "echo failing on purpose; exit 3"
}
`

// TestEditKindsOnRealHosts: line_in_file, block_in_file, sysctl and cron
// converge, plan clean on the second run, show drift with a diff, and a
// failure later in the play brings back the files and the live value.
func TestEditKindsOnRealHosts(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": {"web"}}, ""); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "roles", "tune"), 0o755)
	os.WriteFile(filepath.Join(dir, "roles", "tune", "role.hcl"), []byte(editRole), 0o644)
	pb := filepath.Join(dir, "tune.hcl")
	os.WriteFile(pb, []byte(`play "tune" { hosts = "all"  roles = ["tune"] }`+"\n"), 0o644)

	// Docker mounts /proc/sys read-only in a container; its network
	// namespace's parameters (net.core.somaxconn is one) are its own once
	// it is writable.
	if out, code := hostExec(t, c, "h1", "mount -o remount,rw /proc/sys && echo 4096 > /proc/sys/net/core/somaxconn"); code != 0 {
		t.Fatalf("setup: %s", out)
	}
	const state = "sha256sum /etc/ssh/sshd_config /etc/security/limits.conf; stat -c '%a %U' /etc/ssh/sshd_config /etc/security/limits.conf; " +
		"cat /proc/sys/net/core/somaxconn; cat /etc/sysctl.d/99-skiff.conf /etc/cron.d/skiff-rotate 2>&1"
	pristine, _ := hostExec(t, c, "h1", state)

	plan := func(t *testing.T, extra ...string) run {
		t.Helper()
		return skiff(t, append([]string{"plan", "-i", inv, pb, "--output", "json"}, extra...)...)
	}
	apply := func(t *testing.T, extra ...string) run {
		t.Helper()
		return skiff(t, append([]string{"apply", "-i", inv, pb, "--yes", "--output", "json"}, extra...)...)
	}
	changes := func(r run) map[string][2]string { // task -> summary, diff
		out := map[string][2]string{}
		for _, h := range r.json.Hosts {
			for _, ch := range h.Changes {
				out[ch.Task] = [2]string{ch.Summary, ch.Diff}
			}
		}
		return out
	}

	t.Run("plan reads only and shows each edit", func(t *testing.T) {
		r := plan(t)
		if r.code != 0 {
			t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
		}
		got := changes(r)
		for task, want := range map[string][]string{
			"line_in_file.alive":   {"update /etc/ssh/sshd_config: replace line ", "-#ClientAliveInterval 0\n+ClientAliveInterval 300\n"},
			"block_in_file.limits": {"update /etc/security/limits.conf: insert the block at line ", "+# BEGIN SKIFF MANAGED BLOCK\n+deploy soft nofile 65536\n+deploy hard nofile 65536\n+# END SKIFF MANAGED BLOCK\n # End of file\n"},
			"sysctl.somaxconn":     {"net.core.somaxconn = 1024: live 4096 -> 1024; create /etc/sysctl.d/99-skiff.conf: add line 1", "+net.core.somaxconn = 1024\n"},
			"cron.rotate":          {"create /etc/cron.d/skiff-rotate", "+*/5 * * * * root date +\\%F >> /var/log/rotate.log\n"},
		} {
			if !strings.HasPrefix(got[task][0], want[0]) || !strings.Contains(got[task][1], want[1]) {
				t.Errorf("%s: %q\n%s\nwant %q with %q", task, got[task][0], got[task][1], want[0], want[1])
			}
		}
		if now, _ := hostExec(t, c, "h1", state); now != pristine {
			t.Fatalf("plan changed the host:\n%s\nwas:\n%s", now, pristine)
		}
	})

	t.Run("apply converges, the second plan is clean", func(t *testing.T) {
		if r := apply(t); r.code != 0 || r.json.Summary.Changed != 1 {
			t.Fatalf("apply: exit %d, changed %d\n%s", r.code, r.json.Summary.Changed, r.stderr)
		}
		out, _ := hostExec(t, c, "h1", "grep -n ClientAliveInterval /etc/ssh/sshd_config; grep -c 'SKIFF MANAGED' /etc/security/limits.conf; tail -4 /etc/security/limits.conf; "+
			"cat /proc/sys/net/core/somaxconn /etc/sysctl.d/99-skiff.conf; stat -c '%a %U' /etc/ssh/sshd_config /etc/sysctl.d/99-skiff.conf /etc/cron.d/skiff-rotate; tail -1 /etc/cron.d/skiff-rotate")
		for _, want := range []string{":ClientAliveInterval 300\n", "\n2\n", "deploy hard nofile 65536\n# END SKIFF MANAGED BLOCK\n# End of file\n",
			"1024\nnet.core.somaxconn = 1024\n", "644 root\n644 root\n644 root\n*/5 * * * * root date +\\%F >> /var/log/rotate.log\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("host state lacks %q:\n%s", want, out)
			}
		}
		if r := plan(t); r.code != 0 || len(changes(r)) != 0 {
			t.Fatalf("second plan: exit %d, changes %v", r.code, changes(r))
		}
		if r := apply(t); r.code != 0 || r.json.Summary.Changed != 0 {
			t.Fatalf("second apply: exit %d, changed %d", r.code, r.json.Summary.Changed)
		}
	})

	t.Run("drift is planned with a diff and repaired", func(t *testing.T) {
		hostExec(t, c, "h1", "sed -i 's/^ClientAliveInterval 300$/ClientAliveInterval 5/' /etc/ssh/sshd_config; echo 2048 > /proc/sys/net/core/somaxconn")
		got := changes(plan(t))
		if s := got["line_in_file.alive"]; !strings.Contains(s[1], "-ClientAliveInterval 5\n+ClientAliveInterval 300\n") {
			t.Errorf("line_in_file drift: %q\n%s", s[0], s[1])
		}
		if s := got["sysctl.somaxconn"]; s[0] != "net.core.somaxconn = 1024: live 2048 -> 1024" || s[1] != "" {
			t.Errorf("sysctl drift: %q\n%s", s[0], s[1])
		}
		if _, ok := got["block_in_file.limits"]; ok || len(got) != 2 {
			t.Errorf("changes = %v, want the two drifted tasks only", got)
		}
		if r := apply(t); r.code != 0 {
			t.Fatalf("apply: exit %d", r.code)
		}
		if r := plan(t); len(changes(r)) != 0 {
			t.Fatalf("plan after the repair: %v", changes(r))
		}
	})

	t.Run("a saved plan is refused when the file changed after it", func(t *testing.T) {
		planFile := filepath.Join(dir, "alive.plan")
		if r := skiff(t, "plan", "-i", inv, pb, "-e", "alive=120", "--out", planFile, "--output", "json"); r.code != 0 {
			t.Fatalf("plan --out: exit %d", r.code)
		}
		// A line added far from the edited one: the plan's line for the
		// task reads the same, the content it would write does not.
		hostExec(t, c, "h1", "echo '# added after the plan' >> /etc/ssh/sshd_config")
		before, _ := hostExec(t, c, "h1", state)
		r := skiff(t, "apply", planFile, "--yes", "--output", "json")
		if st, _, msg := r.json.host("h1"); r.code != 1 || st != "failed" || !strings.Contains(msg, "refused") || !strings.Contains(msg, "line_in_file.alive") {
			t.Fatalf("apply PLANFILE: exit %d, h1 %s %q", r.code, st, msg)
		}
		if now, _ := hostExec(t, c, "h1", state); now != before {
			t.Fatalf("a refused plan changed the host:\n%s\nwas:\n%s", now, before)
		}
		hostExec(t, c, "h1", "sed -i '/^# added after the plan$/d' /etc/ssh/sshd_config")
	})

	t.Run("a failing later task rolls the edits and the live value back", func(t *testing.T) {
		converged, _ := hostExec(t, c, "h1", state)
		r := apply(t, "-e", "alive=600", "-e", "nofile=4096", "-e", "somaxconn=512", "-e", "schedule=@daily", "-e", "fail=yes")
		if st, _, msg := r.json.host("h1"); r.code == 0 || st != "failed" || !strings.Contains(msg, "command.fail") {
			t.Fatalf("apply: exit %d, h1 %s %q", r.code, st, msg)
		}
		if now, _ := hostExec(t, c, "h1", state); now != converged {
			t.Fatalf("after the rollback:\n%s\nwant as before the run:\n%s", now, converged)
		}
	})

	t.Run("a value sshd rejects leaves the file as it was", func(t *testing.T) {
		before, _ := hostExec(t, c, "h1", state)
		r := apply(t, "-e", "alive=never")
		if st, _, msg := r.json.host("h1"); st != "failed" || !strings.Contains(msg, "rejected the new content, the file is unchanged") {
			t.Fatalf("apply: exit %d, h1 %s %q", r.code, st, msg)
		}
		if now, _ := hostExec(t, c, "h1", state); now != before {
			t.Fatalf("host changed:\n%s\nwas:\n%s", now, before)
		}
	})
}
