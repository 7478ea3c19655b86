package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// backslashRole manages an account whose comment (GECOS) holds "\c",
// which dash's echo takes for "stop here", and a link whose target holds
// backslashes.
const backslashRole = `task "user" "ops" {
  name  = "ops"
  home  = "/srv/ops"
  shell = "/usr/sbin/nologin"
}

task "symlink" "odd" {
  path   = "/srv/odd-link"
  target = "/srv/a\\cb\\t"
}
`

// TestBackslashesInHostValues converges a host whose values hold
// backslashes, probing with sh alone and then through the probe helper:
// the tasks apply once, and plans after find nothing to do.
func TestBackslashesInHostValues(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	if out, code := hostExec(t, c, "h1", `useradd -M -d /srv/ops -s /usr/sbin/nologin -c 'Ops \c team \t' ops && getent passwd ops`); code != 0 {
		t.Fatalf("creating ops: exit %d: %s", code, out)
	}
	dir := t.TempDir()
	for p, content := range map[string]string{
		filepath.Join(dir, "backslash.hcl"):                  `play "backslash" { hosts = "all"  roles = ["backslash"] }` + "\n",
		filepath.Join(dir, "roles", "backslash", "role.hcl"): backslashRole,
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": nil}, ""); err != nil {
		t.Fatal(err)
	}
	playbook := filepath.Join(dir, "backslash.hcl")

	t.Run("with sh alone", func(t *testing.T) {
		r := skiff(t, "apply", "-i", inv, playbook, "--yes", "--output", "json", "--no-probe-helper")
		if st, n, msg := r.json.host("h1"); r.code != 0 || st != "changed" || n != 1 {
			t.Fatalf("apply: exit %d, h1 %s (%d changes) %q", r.code, st, n, msg)
		}
		if out, _ := hostExec(t, c, "h1", "readlink /srv/odd-link"); out != `/srv/a\cb\t`+"\n" {
			t.Errorf("the link points to %q", out)
		}
		r = skiff(t, "plan", "-i", inv, playbook, "--detailed-exitcode", "--no-probe-helper")
		if r.code != 0 {
			t.Errorf("plan after apply: exit %d\n%s", r.code, r.stdout)
		}
	})

	t.Run("through the probe helper", func(t *testing.T) {
		// This apply installs the helper; the first plan reads the facts
		// that say so, the second probes through it.
		r := skiff(t, "apply", "-i", inv, playbook, "--yes")
		if r.code != 0 {
			t.Fatalf("apply: exit %d\n%s", r.code, r.stdout)
		}
		// The helper leaves a mark when it runs.
		if out, code := hostExec(t, c, "h1", `cd /var/lib/skiff/helper && b=$(ls) && mv "$b" real && printf '#!/bin/sh\ntouch /tmp/helper-ran\nexec /var/lib/skiff/helper/real "$@"\n' > "$b" && chmod 700 "$b"`); code != 0 {
			t.Fatalf("no probe helper on h1: %s", out)
		}
		for i := 0; i < 2; i++ {
			r = skiff(t, "plan", "-i", inv, playbook, "--detailed-exitcode")
			if r.code != 0 {
				t.Errorf("plan after apply: exit %d\n%s", r.code, r.stdout)
			}
		}
		if _, code := hostExec(t, c, "h1", "[ -e /tmp/helper-ran ]"); code != 0 {
			t.Error("the plans did not run the probe helper")
		}
	})
}
