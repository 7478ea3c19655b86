package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// Fault bounds. skiff's SSH transport sends a keepalive every 15 s and
// declares a connection lost after 3 unanswered ones: a host that goes
// silent is noticed 45–60 s later (the last answered keepalive may be up to
// one interval old when it goes silent). The rollback that follows redials
// once, bounded by --connect-timeout.
const (
	faultKeepAlive      = 15 * time.Second
	faultKeepAliveLimit = 4 * faultKeepAlive // 3 misses, plus the interval already under way
	faultConnectTimeout = 5 * time.Second
	// faultSlack covers the rest: the slow task's end on the other hosts,
	// releasing locks, writing the journal, a loaded 2-core machine.
	faultSlack = 20 * time.Second
)

// faultRun is a skiff run in the background, for faults injected while it runs.
type faultRun struct {
	args     []string
	cmd      *exec.Cmd
	out, err bytes.Buffer
	started  time.Time
	done     chan struct{}
	waitErr  error
}

// startFaultRun starts bin/skiff with args from the repository root.
func startFaultRun(t *testing.T, args ...string) *faultRun {
	t.Helper()
	root, err := testhosts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b := &faultRun{args: args, done: make(chan struct{})}
	b.cmd = exec.Command(skiffBin, args...)
	b.cmd.Dir = root
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.err
	b.started = time.Now()
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start skiff %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// running reports whether skiff has not exited yet.
func (b *faultRun) running() bool {
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// wait waits for skiff's end, at most limit. A run that outlives limit is
// hung: it gets SIGQUIT, so that its goroutine dump lands in the failure.
func (b *faultRun) wait(t *testing.T, limit time.Duration) run {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(limit):
		_ = b.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
		t.Fatalf("skiff %s: still running after %s (hung); stdout:\n%s\nstderr:\n%s",
			strings.Join(b.args, " "), limit, b.out.String(), tailLines(b.err.String(), 200))
	}
	r := run{stdout: b.out.String(), stderr: b.err.String()}
	if ee, ok := b.waitErr.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if b.waitErr != nil {
		t.Fatalf("skiff %s: %v", strings.Join(b.args, " "), b.waitErr)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("skiff panicked:\n%s", r.stderr)
	}
	for _, a := range b.args {
		if a == "json" {
			if err := json.Unmarshal(b.out.Bytes(), &r.json); err != nil {
				t.Fatalf("skiff %s: stdout is not one JSON document: %v\nstdout: %s\nstderr: %s",
					strings.Join(b.args, " "), err, r.stdout, r.stderr)
			}
		}
	}
	t.Logf("skiff %s → exit %d after %s\n%s", strings.Join(b.args, " "), r.code,
		time.Since(b.started).Round(100*time.Millisecond), tailLines(r.stderr, 30))
	return r
}

// waitFor polls f every 200 ms until it holds, while the run is still
// going; it fails the test if the run ends first or d passes.
func (b *faultRun) waitFor(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if !b.running() {
			t.Fatalf("skiff ended before %s:\nstdout:\n%s\nstderr:\n%s", what, b.out.String(), b.err.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; skiff stderr so far:\n%s", what, d, b.err.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sleeping reports whether the slow role's sleep runs on host.
func sleeping(t *testing.T, c *testhosts.Cluster, host string) bool {
	_, code := hostExec(t, c, host, "pgrep -x sleep >/dev/null")
	return code == 0
}

// expectStatus checks the JSON status of hosts.
func expectStatus(t *testing.T, r run, want map[string]string) {
	t.Helper()
	for name, st := range want {
		if got, _, msg := r.json.host(name); got != st {
			t.Errorf("%s: %s (%q), want %s", name, got, msg, st)
		}
	}
}

// fileOn returns a file's content on a host, trimmed ("-" when absent).
func fileOn(t *testing.T, c *testhosts.Cluster, host, path string) string {
	t.Helper()
	out, code := hostExec(t, c, host, "cat "+path)
	if code != 0 {
		return "-"
	}
	return strings.TrimSpace(out)
}

// killSSHSessions ends the per-connection sshd processes of user deploy
// (skiff's connections), leaving the listener. The bracket keeps pkill's
// pattern from matching the shell that runs it.
const killSSHSessions = `pkill -f '^sshd: deplo[y]'`

// TestFaults injects faults into runs on real hosts: hosts that stop or
// freeze mid-run, a partition during an upload, sshd dropping skiff's
// connection, max_fail, a changed host key.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Docker")
	}

	// A host that dies (SIGKILL of its container) or freezes (docker
	// pause) during the slow task is reported unreachable while the other
	// hosts finish. A killed host's kernel closes its sockets as its
	// processes die, so skiff sees the connection end at once (measured
	// ~6 s, the sleep's end on the others included); a frozen host goes
	// silent, and only the keepalives notice (measured ~65 s: 60 s of
	// unanswered keepalives, then the rollback's redial times out).
	for fault, name := range map[string]string{"stop": "killed (SIGKILL)", "pause": "frozen (docker pause)"} {
		t.Run("a host "+name+" mid-run is unreachable, the others finish", func(t *testing.T) {
			t.Parallel()
			c := startCluster(t, []string{"h1", "h2", "h3"}, nil)
			inv := filepath.Join(t.TempDir(), "inventory.hcl")
			if err := c.WriteInventory(inv, nil, ""); err != nil {
				t.Fatal(err)
			}
			b := startFaultRun(t, "apply", "-i", inv, "integration/testdata/playbooks/slow.hcl", "--yes",
				"--output", "json", "--connect-timeout", faultConnectTimeout.String(), "-e", "seconds=6", "-e", "stamp="+fault)
			b.waitFor(t, 60*time.Second, "the slow task on every host", func() bool {
				return sleeping(t, c, "h1") && sleeping(t, c, "h2") && sleeping(t, c, "h3")
			})
			faulted := time.Now()
			var err error
			if fault == "stop" {
				err = c.Stop("h2")
			} else {
				err = c.Pause("h2")
			}
			if err != nil {
				t.Fatal(err)
			}
			bound := faultKeepAliveLimit + faultConnectTimeout + faultSlack
			r := b.wait(t, 3*bound)
			took := time.Since(faulted)
			t.Logf("MEASURED %s: skiff ended %s after the fault (bound %s)", fault, took.Round(100*time.Millisecond), bound)
			if took > bound {
				t.Errorf("skiff ended %s after the host was %s, want within %s", took.Round(time.Second), name, bound)
			}
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			expectStatus(t, r, map[string]string{"h1": "changed", "h2": "unreachable", "h3": "changed"})
			if _, _, msg := r.json.host("h2"); !strings.Contains(msg, "h2") {
				t.Errorf("h2's error does not name it: %q", msg)
			}
			if s := r.json.Summary; s.Changed != 2 || s.Unreachable != 1 || s.Failed != 0 {
				t.Errorf("summary %+v, want 2 changed, 1 unreachable", s)
			}
			for _, h := range []string{"h1", "h3"} {
				if got := fileOn(t, c, h, "/etc/skiff-slow-after"); got != fault {
					t.Errorf("%s: /etc/skiff-slow-after = %q, want %q", h, got, fault)
				}
			}
			if fault != "pause" {
				return
			}
			// Thawed, the host converges on the next run, which takes over
			// the deploy lock the failed run could not release.
			if err := c.Unpause("h2"); err != nil {
				t.Fatal(err)
			}
			r = skiff(t, "apply", "-i", inv, "integration/testdata/playbooks/slow.hcl", "--yes", "--output", "json",
				"-e", "seconds=0", "-e", "stamp=thawed")
			if r.code != 0 || r.json.Summary.Changed != 3 {
				t.Errorf("after unpause: exit %d, summary %+v\n%s", r.code, r.json.Summary, r.stderr)
			}
			if got := fileOn(t, c, "h2", "/etc/skiff-slow-after"); got != "thawed" {
				t.Errorf("h2 after unpause: /etc/skiff-slow-after = %q", got)
			}
		})
	}

	// A partition while a large file uploads: the live file is never
	// partial (the upload waits in the host's root-only staging folder),
	// and the next run converges.
	t.Run("a network cut during an upload leaves no partial file", func(t *testing.T) {
		t.Parallel()
		c := startCluster(t, []string{"h1"}, nil)
		dir := t.TempDir()
		inv := filepath.Join(dir, "inventory.hcl")
		if err := c.WriteInventory(inv, nil, ""); err != nil {
			t.Fatal(err)
		}
		big := filepath.Join(dir, "big.bin")
		data := make([]byte, 256<<20)
		_, _ = rand.Read(data)
		if err := os.WriteFile(big, data, 0o644); err != nil {
			t.Fatal(err)
		}
		data = nil
		args := []string{"apply", "-i", inv, "integration/testdata/playbooks/bigfile.hcl", "--yes", "--output", "json",
			"--connect-timeout", faultConnectTimeout.String(), "-e", "big=" + big}
		b := startFaultRun(t, args...)
		b.waitFor(t, 90*time.Second, "the upload growing", func() bool {
			out, _ := hostExec(t, c, "h1", "stat -c %s /var/lib/skiff/staging/*.upload 2>/dev/null")
			var n int64
			_, _ = fmt.Sscan(out, &n)
			return n > 0
		})
		size, _ := hostExec(t, c, "h1", "stat -c %s /var/lib/skiff/staging/*.upload")
		if err := c.Disconnect("h1"); err != nil {
			t.Fatal(err)
		}
		cut := time.Now()
		t.Logf("network cut with %s bytes uploaded", strings.TrimSpace(size))
		bound := faultKeepAliveLimit + faultConnectTimeout + faultSlack
		r := b.wait(t, 3*bound)
		took := time.Since(cut)
		t.Logf("MEASURED partition: skiff ended %s after the cut (bound %s)", took.Round(100*time.Millisecond), bound)
		if took > bound {
			t.Errorf("skiff ended %s after the cut, want within %s", took.Round(time.Second), bound)
		}
		if err := c.Reconnect("h1"); err != nil {
			t.Fatal(err)
		}
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		if st, _, msg := r.json.host("h1"); (st != "unreachable" && st != "failed") || !strings.Contains(msg, "h1") {
			t.Errorf("h1: %s %q, want unreachable (or failed) naming the host", st, msg)
		}
		if out, code := hostExec(t, c, "h1", "ls -la /opt; test -e /opt/big.bin"); code == 0 {
			t.Fatalf("a partial /opt/big.bin is live:\n%s", out)
		}
		r = skiff(t, args...)
		if r.code != 0 {
			t.Fatalf("next apply: exit %d\n%s", r.code, r.stderr)
		}
		out, _ := hostExec(t, c, "h1", "sha256sum < /opt/big.bin | cut -c1-64; ls -a /opt")
		local, _ := exec.Command("sh", "-c", "sha256sum < "+big+" | cut -c1-64").Output()
		if !strings.HasPrefix(out, string(local)) || strings.Contains(out, ".skiff-") {
			t.Errorf("after the next apply: %s (local sha %s)", out, local)
		}
	})

	// Faults that leave the hosts usable share one cluster, in order.
	t.Run("shared cluster", func(t *testing.T) {
		t.Parallel()
		c := startCluster(t, []string{"h1", "h2", "h3"}, nil)
		dir := t.TempDir()
		inv := filepath.Join(dir, "inventory.hcl")
		if err := c.WriteInventory(inv, nil, ""); err != nil {
			t.Fatal(err)
		}

		t.Run("max_fail is respected", func(t *testing.T) {
			r := skiff(t, "apply", "-i", inv, "integration/testdata/faults/max_fail_0.hcl", "--yes", "--output", "json",
				"-e", "stamp=m0")
			if r.code != 1 {
				t.Errorf("max_fail = 0: exit %d, want 1", r.code)
			}
			if st, _, msg := r.json.host("h1"); st != "failed" || !strings.Contains(msg, "command.fail") {
				t.Errorf("h1: %s %q, want failed in command.fail", st, msg)
			}
			for _, h := range []string{"h2", "h3"} {
				if st, n, msg := r.json.host(h); st != "failed" || n != 0 || !strings.HasPrefix(msg, "not run") {
					t.Errorf("%s: %s, %d changes, %q; want not run", h, st, n, msg)
				}
				if got := fileOn(t, c, h, "/etc/skiff-maxfail"); got != "-" {
					t.Errorf("%s was changed although not run: /etc/skiff-maxfail = %q", h, got)
				}
			}
			if got := fileOn(t, c, "h1", "/etc/skiff-maxfail"); got != "-" {
				t.Errorf("h1's change was not rolled back: /etc/skiff-maxfail = %q", got)
			}

			r = skiff(t, "apply", "-i", inv, "integration/testdata/faults/max_fail_1.hcl", "--yes", "--output", "json",
				"-e", "stamp=m1")
			if r.code != 1 {
				t.Errorf("max_fail = 1: exit %d, want 1 (h1 failed)", r.code)
			}
			expectStatus(t, r, map[string]string{"h1": "failed", "h2": "changed", "h3": "changed"})
			for _, h := range []string{"h2", "h3"} {
				if got := fileOn(t, c, h, "/etc/skiff-maxfail"); got != "m1" {
					t.Errorf("%s: /etc/skiff-maxfail = %q, want m1", h, got)
				}
			}
		})

		t.Run("sshd drops the connection: reconnect once, then fail cleanly", func(t *testing.T) {
			// While h1 sleeps (serial = 1), sshd restarts on h2 and its
			// sessions are killed, cutting skiff's idle connection: h2's turn
			// reconnects, once, and the run completes.
			logins := func(host string) int {
				out, _ := hostExec(t, c, host, "journalctl -u ssh --no-pager -o cat | grep -c 'Accepted publickey for deploy'")
				var n int
				_, _ = fmt.Sscan(out, &n)
				return n
			}
			before := map[string]int{"h1": logins("h1"), "h2": logins("h2")}
			b := startFaultRun(t, "apply", "-i", inv, "integration/testdata/faults/slow_serial.hcl", "--yes",
				"--output", "json", "-e", "seconds=4", "-e", "stamp=s1")
			b.waitFor(t, 30*time.Second, "the slow task on h1", func() bool { return sleeping(t, c, "h1") })
			if out, code := hostExec(t, c, "h2", "systemctl restart ssh && "+killSSHSessions); code != 0 {
				t.Fatalf("restarting sshd and killing deploy's sessions on h2 (exit %d): %s", code, out)
			}
			r := b.wait(t, 90*time.Second)
			if r.code != 0 {
				t.Errorf("idle connection cut: exit %d, want 0 (reconnected)", r.code)
			}
			expectStatus(t, r, map[string]string{"h1": "changed", "h2": "changed", "h3": "changed"})
			if got := fileOn(t, c, "h2", "/etc/skiff-slow-after"); got != "s1" {
				t.Errorf("h2: /etc/skiff-slow-after = %q, want s1", got)
			}
			// One connection per host for the run, plus h2's one reconnect.
			if d1, d2 := logins("h1")-before["h1"], logins("h2")-before["h2"]; d1 != 1 || d2 != 2 {
				t.Errorf("logins during the run: h1 %d, h2 %d; want 1 and 2 (one reconnect)", d1, d2)
			}

			// Cut while h2 runs its slow task: the task may have done part of
			// its work, so it is not retried; h2 fails, naming itself.
			b = startFaultRun(t, "apply", "-i", inv, "integration/testdata/playbooks/slow.hcl", "--yes",
				"--output", "json", "--connect-timeout", faultConnectTimeout.String(), "-e", "seconds=4", "-e", "stamp=s2")
			b.waitFor(t, 30*time.Second, "the slow task on h2", func() bool { return sleeping(t, c, "h2") })
			cut := time.Now()
			if out, code := hostExec(t, c, "h2", killSSHSessions); code != 0 {
				t.Fatalf("no sshd session of deploy to kill on h2 (exit %d): %s", code, out)
			}
			r = b.wait(t, 90*time.Second)
			t.Logf("MEASURED sshd session killed mid-task: skiff ended %s after the cut", time.Since(cut).Round(100*time.Millisecond))
			if r.code != 1 {
				t.Errorf("connection cut mid-task: exit %d, want 1", r.code)
			}
			expectStatus(t, r, map[string]string{"h1": "changed", "h3": "changed"})
			st, _, msg := r.json.host("h2")
			if (st != "unreachable" && st != "failed") || !strings.Contains(msg, "h2: unreachable: connection lost") {
				t.Errorf("h2: %s %q, want unreachable or failed with an error naming h2", st, msg)
			}
			t.Logf("h2 after its connection was cut mid-task: %s: %s", st, msg)
			// The rollback used the one reconnect: h2 is back where it was.
			if got := fileOn(t, c, "h2", "/etc/skiff-slow-before"); got != "s1" {
				t.Errorf("h2: /etc/skiff-slow-before = %q, want s1 (rolled back)", got)
			}

			// sshd stopped and the session killed mid-task: h2 is
			// unreachable (the reconnect is refused), the others finish.
			b = startFaultRun(t, "apply", "-i", inv, "integration/testdata/playbooks/slow.hcl", "--yes",
				"--output", "json", "--connect-timeout", faultConnectTimeout.String(), "-e", "seconds=4", "-e", "stamp=s3")
			b.waitFor(t, 30*time.Second, "the slow task on h2", func() bool { return sleeping(t, c, "h2") })
			cut = time.Now()
			if out, code := hostExec(t, c, "h2", "systemctl stop ssh.socket ssh.service 2>&1; "+killSSHSessions); code != 0 {
				t.Fatalf("stopping sshd on h2 (exit %d): %s", code, out)
			}
			r = b.wait(t, 90*time.Second)
			t.Logf("MEASURED sshd stopped mid-task: skiff ended %s after the stop", time.Since(cut).Round(100*time.Millisecond))
			if r.code != 1 {
				t.Errorf("sshd stopped: exit %d, want 1", r.code)
			}
			expectStatus(t, r, map[string]string{"h1": "changed", "h2": "unreachable", "h3": "changed"})
			if _, _, msg := r.json.host("h2"); !strings.Contains(msg, "h2: unreachable: connection lost") || !strings.Contains(msg, "connection refused") {
				t.Errorf("h2's error: %q, want it named, with the refused reconnect", msg)
			}

			// A run that starts with sshd down: h2 unreachable at once.
			start := time.Now()
			r = skiff(t, "apply", "-i", inv, "integration/testdata/playbooks/slow.hcl", "--yes", "--output", "json",
				"-e", "seconds=0", "-e", "stamp=s4")
			t.Logf("MEASURED run with sshd down on h2: %s", time.Since(start).Round(100*time.Millisecond))
			if r.code != 1 {
				t.Errorf("sshd down: exit %d, want 1", r.code)
			}
			expectStatus(t, r, map[string]string{"h1": "changed", "h2": "unreachable", "h3": "changed"})

			// sshd back: h2 converges (the dead run's lock is taken over).
			if out, code := hostExec(t, c, "h2", "systemctl start ssh.service"); code != 0 {
				t.Fatalf("starting sshd on h2: %s", out)
			}
			r = skiff(t, "apply", "-i", inv, "integration/testdata/playbooks/slow.hcl", "--yes", "--output", "json",
				"-e", "seconds=0", "-e", "stamp=s4")
			if r.code != 0 {
				t.Errorf("sshd back: exit %d, want 0\n%s", r.code, r.stderr)
			}
			if got := fileOn(t, c, "h2", "/etc/skiff-slow-after"); got != "s4" {
				t.Errorf("h2: /etc/skiff-slow-after = %q, want s4", got)
			}
		})

		t.Run("a changed host key is refused with both fingerprints; the others go on", func(t *testing.T) {
			// Converge first, so that the others plan no change.
			r := skiff(t, "apply", "-i", inv, "integration/testdata/faults/max_fail_1.hcl", "--yes", "--output", "json",
				"-e", "fail_on=none", "-e", "stamp=k")
			if r.code != 0 {
				t.Fatalf("baseline: exit %d\n%s", r.code, r.stderr)
			}
			h3, _ := c.Host("h3")
			known, err := os.ReadFile(c.KnownHostsFile)
			if err != nil {
				t.Fatal(err)
			}
			var oldFP string
			var line int
			for i, l := range strings.Split(string(known), "\n") {
				if f := strings.Fields(l); len(f) == 3 && f[0] == h3.Address {
					k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(f[1] + " " + f[2]))
					if err != nil {
						t.Fatal(err)
					}
					oldFP, line = ssh.FingerprintSHA256(k), i+1
				}
			}
			if oldFP == "" {
				t.Fatalf("no known_hosts line for h3 (%s):\n%s", h3.Address, known)
			}
			if out, code := hostExec(t, c, "h3", "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A && systemctl restart ssh && cat /etc/ssh/ssh_host_ed25519_key.pub"); code != 0 {
				t.Fatalf("regenerating h3's host keys: %s", out)
			} else {
				k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(out[strings.Index(out, "ssh-ed25519"):]))
				if err != nil {
					t.Fatalf("h3's new key: %v\n%s", err, out)
				}
				newFP := ssh.FingerprintSHA256(k)
				if newFP == oldFP {
					t.Fatal("h3's host key did not change")
				}
				where := fmt.Sprintf("%s:%d", c.KnownHostsFile, line)
				for _, accept := range []bool{false, true} {
					args := []string{"plan", "-i", inv, "integration/testdata/faults/max_fail_1.hcl", "--output", "json",
						"-e", "fail_on=none", "-e", "stamp=k"}
					if accept {
						args = append(args, "--accept-new-host-keys")
					}
					r := skiff(t, args...)
					if r.code != 1 {
						t.Errorf("accept-new=%v: exit %d, want 1", accept, r.code)
					}
					expectStatus(t, r, map[string]string{"h1": "ok", "h2": "ok", "h3": "failed"})
					_, _, msg := r.json.host("h3")
					for _, want := range []string{"h3", oldFP, newFP, where, "CHANGED"} {
						if !strings.Contains(msg, want) {
							t.Errorf("accept-new=%v: h3's error lacks %q: %s", accept, want, msg)
						}
					}
					if now, _ := os.ReadFile(c.KnownHostsFile); !bytes.Equal(now, known) {
						t.Errorf("accept-new=%v: known_hosts was changed:\n%s", accept, now)
					}
				}
			}
		})
	})
}
