package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// argvRole runs a command with a secret in its env and an unless that takes
// two seconds, so that a probe that put the fragment in an argv would be
// seen there. The command proves the secret reached it.
const argvRole = `task "command" "uses_a_secret" {
  command = "[ \"$ARGV_SECRET\" = \"$(cat /root/argv-secret)\" ] && touch /root/argv-ran"
  unless  = "sleep 2; [ -e /root/argv-ran ]"
  env     = { ARGV_SECRET = secret.argv_secret }
}
`

// argvSampler greps every process's command line on the host, over and
// over, for the lines of /root/argv-patterns (the secret, and the probe
// helper's subcommand), until /root/argv-stop appears. Its own argv holds
// neither.
const argvSampler = `rm -f /root/argv-stop /root/argv-started /root/argv-stopped /root/argv-samples
nohup sh -c 'n=0; while [ ! -e /root/argv-stop ]; do
  grep -a -F -f /root/argv-patterns /proc/[0-9]*/cmdline
  [ -e /root/argv-started ] || touch /root/argv-started
  n=$((n+1))
done >/root/argv-samples 2>/dev/null; echo "$n" >/root/argv-stopped' >/dev/null 2>&1 &
i=0; while [ ! -e /root/argv-started ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -e /root/argv-started ]`

const argvSamples = `touch /root/argv-stop
i=0; while [ ! -s /root/argv-stopped ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -s /root/argv-stopped ] || exit 1
echo "sweeps $(cat /root/argv-stopped)"
tr '\0' ' ' </root/argv-samples | sort -u`

// TestSecretsStayOutOfArgv samples every command line on a host while plans
// and applies probe a command whose env holds a secret and whose unless
// runs in the probe: through the probe helper (which the first apply
// installs) and with sh alone. No process's argv ever holds the secret.
func TestSecretsStayOutOfArgv(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	// The secret is made on the host, so that no command line of the
	// test's own carries it; the sampler's patterns are read from a file.
	secret, code := hostExec(t, c, "h1", `umask 077
s=S3c-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
printf '%s\n' "$s" >/root/argv-secret
printf '%s\nprobe-helper\n' "$s" >/root/argv-patterns
printf '%s' "$s"`)
	if code != 0 || !strings.HasPrefix(secret, "S3c-") || len(secret) != 28 {
		t.Fatalf("making the secret: exit %d, %q", code, secret)
	}

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "argv_secret")
	for p, content := range map[string]string{
		secretFile:                     secret + "\n",
		filepath.Join(dir, "argv.hcl"): `play "argv" { hosts = "all"  roles = ["argv"] }` + "\n",
		filepath.Join(dir, "roles", "argv", "role.hcl"): argvRole,
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": nil}, `secret "argv_secret" { file = "`+secretFile+`" }`); err != nil {
		t.Fatal(err)
	}
	playbook := filepath.Join(dir, "argv.hcl")

	// sampled runs skiff with args while the sampler runs on h1, and
	// returns what it saw.
	sampled := func(t *testing.T, args ...string) (run, string) {
		t.Helper()
		if out, code := hostExec(t, c, "h1", argvSampler); code != 0 {
			t.Fatalf("starting the sampler: exit %d: %s", code, out)
		}
		r := skiff(t, args...)
		seen, code := hostExec(t, c, "h1", argvSamples)
		if code != 0 {
			t.Fatalf("stopping the sampler: exit %d", code)
		}
		sweeps, _, _ := strings.Cut(seen, "\n")
		t.Logf("%s of every command line on h1", sweeps)
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("the secret shows in skiff's output")
		}
		return r, seen
	}
	noSecret := func(t *testing.T, seen string) {
		t.Helper()
		for _, line := range strings.Split(seen, "\n") {
			if strings.Contains(line, secret) {
				t.Errorf("the secret is in a process's argv: %.300s", strings.ReplaceAll(line, secret, "(the secret)"))
			}
		}
	}
	helperRan := func(t *testing.T, seen string) {
		t.Helper()
		if !strings.Contains(seen, "/var/lib/skiff/helper/skiff-") {
			t.Errorf("the probe helper did not run during the run:\n%s", seen)
		}
	}
	ranCommand := func(t *testing.T) {
		t.Helper()
		if _, code := hostExec(t, c, "h1", "[ -e /root/argv-ran ] && rm /root/argv-ran"); code != 0 {
			t.Fatal("the command did not run with its secret")
		}
	}

	t.Run("the first apply installs the helper", func(t *testing.T) {
		r, seen := sampled(t, "apply", "-i", inv, playbook, "--yes", "--output", "json")
		if st, n, msg := r.json.host("h1"); r.code != 0 || st != "changed" || n != 1 {
			t.Fatalf("apply: exit %d, h1 %s (%d changes) %q", r.code, st, n, msg)
		}
		noSecret(t, seen)
		ranCommand(t)
		if out, _ := hostExec(t, c, "h1", "ls /var/lib/skiff/helper"); !strings.HasPrefix(out, "skiff-") {
			t.Fatalf("no probe helper on h1: %q", out)
		}
	})

	t.Run("plan through the helper", func(t *testing.T) {
		// The facts the first apply kept predate the helper, so the next
		// plan probes with sh as it reads the facts anew; the plan after
		// it goes through the helper from the start.
		skiff(t, "plan", "-i", inv, playbook)
		r, seen := sampled(t, "plan", "-i", inv, playbook, "--output", "json")
		if st, n, msg := r.json.host("h1"); r.code != 0 || st != "changed" || n != 1 {
			t.Fatalf("plan: exit %d, h1 %s (%d changes) %q", r.code, st, n, msg)
		}
		helperRan(t, seen)
		noSecret(t, seen)
	})

	t.Run("apply through the helper", func(t *testing.T) {
		r, seen := sampled(t, "apply", "-i", inv, playbook, "--yes", "--output", "json")
		if st, n, msg := r.json.host("h1"); r.code != 0 || st != "changed" || n != 1 {
			t.Fatalf("apply: exit %d, h1 %s (%d changes) %q", r.code, st, n, msg)
		}
		helperRan(t, seen)
		noSecret(t, seen)
		ranCommand(t)
	})

	t.Run("plan and apply with sh alone", func(t *testing.T) {
		for _, args := range [][]string{
			{"plan", "-i", inv, playbook, "--output", "json", "--no-probe-helper"},
			{"apply", "-i", inv, playbook, "--yes", "--output", "json", "--no-probe-helper"},
		} {
			r, seen := sampled(t, args...)
			if st, n, msg := r.json.host("h1"); r.code != 0 || st != "changed" || n != 1 {
				t.Fatalf("%s: exit %d, h1 %s (%d changes) %q", args[0], r.code, st, n, msg)
			}
			noSecret(t, seen)
		}
		ranCommand(t)
	})
}
