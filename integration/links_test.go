package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// linksRole writes one file into a folder that an unprivileged user owns,
// as skiff does for a deploy user's ~/.ssh/authorized_keys.
const linksRole = `
variable "body" {}
variable "mode" {}
task "file" "keys" {
  path    = "/home/mallory/drop/authorized_keys"
  content = "${var.body}\n"
  owner   = "mallory"
  mode    = var.mode
}
`

// attacker is what the unprivileged user runs, in a tight loop: every
// .skiff-* entry skiff makes in its folder is replaced by a symlink to
// root's file (a file at once, by a rename; a folder after moving it
// aside). (A link at the target itself is refused at
// the probe, and the unit tests swap it in between probe and apply.)
const attacker = `cd /home/mallory/drop || exit 1
n=0
while :; do
  for f in .skiff-*; do
    [ -L "$f" ] && continue
    n=$((n+1))
    if [ -d "$f" ]; then
      mv -f -- "$f" "gone.$n" 2>/dev/null
      ln -s /root/victim "$f" 2>/dev/null
    elif [ -e "$f" ]; then
      ln -sfn /root/victim "link.$n" && mv -f -T -- "link.$n" "$f" 2>/dev/null
    fi
  done
done`

// TestNoLinkFollowedAsRoot proves that a local user who owns the folder of
// a managed file cannot make skiff, running as root, change another file:
// not through the temporary names of an upload, not through the target,
// not through the folder itself.
func TestNoLinkFollowedAsRoot(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": {"web"}}, ""); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "roles", "keys"), 0o755)
	os.WriteFile(filepath.Join(dir, "roles", "keys", "role.hcl"), []byte(linksRole), 0o644)
	pb := filepath.Join(dir, "keys.hcl")
	os.WriteFile(pb, []byte(`play "keys" { hosts = "all"  roles = ["keys"] }`+"\n"), 0o644)

	const victimState = "stat -c '%U %a %s' /root/victim; sha256sum /root/victim | cut -c1-64"
	if out, code := hostExec(t, c, "h1", "useradd -m -s /bin/sh mallory && install -d -o mallory -g mallory -m 0755 /home/mallory/drop && "+
		"printf 'root:$y$secret:19000:0:99999:7:::\\n' > /root/victim && chmod 600 /root/victim"); code != 0 {
		t.Fatalf("setup: %s", out)
	}
	before, _ := hostExec(t, c, "h1", victimState)

	apply := func(body, mode string) run {
		return skiff(t, "apply", "-i", inv, pb, "--yes", "-e", "body="+body, "-e", "mode="+mode)
	}
	if r := apply("ssh-ed25519 AAAA first", "0644"); r.code != 0 {
		t.Fatalf("first apply: exit %d", r.code)
	}

	t.Run("temporaries swapped for links in a tight loop during 50 applies", func(t *testing.T) {
		if out, code := hostExec(t, c, "h1", "setsid su -s /bin/sh mallory -c "+shellQuote(attacker)+" </dev/null >/dev/null 2>&1 & echo $! > /run/attacker.pid"); code != 0 {
			t.Fatalf("starting the attacker: %s", out)
		}
		stopped := false
		stop := func() {
			if !stopped {
				hostExec(t, c, "h1", "pkill -u mallory; sleep 0.2; pkill -9 -u mallory; true")
				stopped = true
			}
		}
		defer stop()
		changed := 0
		for i := range 50 {
			// Content changes on even runs, only the mode on odd ones:
			// both the upload and the owner/mode fix are under attack.
			mode := []string{"0644", "0640"}[i%2]
			r := apply(fmt.Sprintf("ssh-ed25519 AAAA key%d", i/2), mode)
			if r.code == 0 {
				changed++
			}
			if now, _ := hostExec(t, c, "h1", victimState); now != before {
				t.Fatalf("apply %d changed /root/victim: before %q, after %q\n%s", i, before, now, r.stderr)
			}
		}
		stop()
		t.Logf("%d of 50 applies under attack succeeded", changed)
		if changed == 0 {
			t.Fatal("no apply under attack succeeded: the attack was not exercised")
		}
		// Without the attacker, the next apply converges the file.
		if r := apply("ssh-ed25519 AAAA final", "0600"); r.code != 0 {
			t.Fatalf("apply after the attack: exit %d", r.code)
		}
		out, _ := hostExec(t, c, "h1", "stat -c '%F %U %a' /home/mallory/drop/authorized_keys; cat /home/mallory/drop/authorized_keys")
		if want := "regular file mallory 600\nssh-ed25519 AAAA final\n"; out != want {
			t.Fatalf("target = %q, want %q", out, want)
		}
		if r := skiff(t, "apply", "-i", inv, pb, "--yes", "-e", "body=ssh-ed25519 AAAA final", "-e", "mode=0600", "--output", "json"); r.code != 0 || r.json.Summary.Changed != 0 {
			t.Fatalf("second apply after the attack: exit %d, changed %d\n%s", r.code, r.json.Summary.Changed, r.stdout)
		}
	})

	t.Run("the folder itself swapped for a link to root's folder is refused", func(t *testing.T) {
		rootSSH, _ := hostExec(t, c, "h1", "mkdir -p -m 700 /root/.ssh && ls -la /root/.ssh | sha256sum")
		hostExec(t, c, "h1", "su -s /bin/sh mallory -c 'mv /home/mallory/drop /home/mallory/drop.old && ln -s /root/.ssh /home/mallory/drop'")
		r := apply("ssh-ed25519 AAAA mallory", "0644")
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "symbolic link owned by uid") {
			t.Fatalf("apply through mallory's link: exit %d\n%s", r.code, r.stdout)
		}
		if now, _ := hostExec(t, c, "h1", "ls -la /root/.ssh | sha256sum"); now != rootSSH {
			t.Fatalf("/root/.ssh changed")
		}
		if now, _ := hostExec(t, c, "h1", victimState); now != before {
			t.Fatalf("/root/victim changed")
		}
	})

	t.Run("skiff's folders on the host are root's only", func(t *testing.T) {
		out, _ := hostExec(t, c, "h1", "for d in /var/lib/skiff /var/lib/skiff/*; do [ -d \"$d\" ] && stat -c '%n %U %a' \"$d\"; done")
		if !strings.Contains(out, "/var/lib/skiff root 700") {
			t.Errorf("no root-only /var/lib/skiff:\n%s", out)
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasSuffix(l, " root 700") {
				t.Errorf("not root-only: %s", l)
			}
		}
	})
}
