package integration

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// lockRunID is the run id in a host's deploy lock, "" when it is free.
func lockRunID(t *testing.T, c *testhosts.Cluster, host string) string {
	t.Helper()
	out, code := hostExec(t, c, host, "cat /var/lib/skiff/lock")
	if code != 0 {
		return ""
	}
	var l struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("%s: lock file is not JSON: %v\n%s", host, err, out)
	}
	return l.RunID
}

// TestLockLostOnRealHosts: a run whose deploy lock is taken over or
// released mid-run makes no further change, on any host, and exits 1
// naming the host and the new holder; a delegate named by a variable is
// locked; a killed run's lock is taken over at once by the next run of
// this machine.
func TestLockLostOnRealHosts(t *testing.T) {
	c := startCluster(t, []string{"h1", "h2"}, nil)
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := c.WriteInventory(inv, nil, ""); err != nil {
		t.Fatal(err)
	}
	const slow = "integration/testdata/playbooks/slow.hcl"

	t.Run("taken over mid-run: no further change anywhere, exit 1 naming the new holder", func(t *testing.T) {
		// The first run sleeps for three heartbeats (20 s each) on both
		// hosts; during its sleep, h1's lock is released and a second run
		// takes it. The first run notices at a heartbeat, before its sleep
		// ends, and changes nothing more: neither h1, now the second run's,
		// nor h2, where its play is rolled back as for Ctrl-C.
		first := startFaultRun(t, "apply", "-i", inv, slow, "--yes", "--output", "json", "-e", "seconds=60", "-e", "stamp=first")
		first.waitFor(t, 90*time.Second, "the first run's sleep on both hosts", func() bool {
			return sleeping(t, c, "h1") && sleeping(t, c, "h2")
		})
		firstID := lockRunID(t, c, "h1")
		if r := skiff(t, "lock", "release", "-i", inv, "--limit", "h1", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "released") {
			t.Fatalf("lock release: exit %d\n%s", r.code, r.stdout)
		}
		second := startFaultRun(t, "apply", "-i", inv, slow, "--limit", "h1", "--yes", "--output", "json", "-e", "seconds=75", "-e", "stamp=second")
		first.waitFor(t, 40*time.Second, "the second run's first change on h1", func() bool {
			return fileOn(t, c, "h1", "/etc/skiff-slow-before") == "second"
		})
		secondID := lockRunID(t, c, "h1")
		if secondID == "" || secondID == firstID {
			t.Fatalf("h1's lock: %q, want the second run's (the first was %q)", secondID, firstID)
		}

		r := first.wait(t, 3*time.Minute)
		if r.code != 1 {
			t.Errorf("first run: exit %d, want 1", r.code)
		}
		if want := "h1: deploy lock lost: now held by "; !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "(run "+secondID+", apply)") {
			t.Errorf("first run's stderr does not name h1 and the second run (%s):\n%s", secondID, r.stderr)
		}
		if st, _, msg := r.json.host("h1"); st != "failed" || !strings.Contains(msg, "h1: deploy lock lost") {
			t.Errorf("h1: %s %q", st, msg)
		}
		if st, _, msg := r.json.host("h2"); st != "failed" || !strings.Contains(msg, "stopped before slow/slow file.after") || !strings.Contains(msg, "rolled back 1 of 2 change(s) (slow command.sleep cannot be undone)") {
			t.Errorf("h2: %s %q", st, msg)
		}
		// No change after the loss: h2's play is undone (its lock was still
		// the first run's), h1 is left to the second run.
		for host, want := range map[string][2]string{"h1": {"second", "-"}, "h2": {"-", "-"}} {
			if got := fileOn(t, c, host, "/etc/skiff-slow-before"); got != want[0] {
				t.Errorf("%s: /etc/skiff-slow-before = %q, want %q", host, got, want[0])
			}
			if got := fileOn(t, c, host, "/etc/skiff-slow-after"); got != want[1] {
				t.Errorf("%s: /etc/skiff-slow-after = %q, want %q", host, got, want[1])
			}
		}
		if got := lockRunID(t, c, "h1"); got != secondID {
			t.Errorf("h1's lock after the first run: %q, want the second run's %q", got, secondID)
		}
		if got := lockRunID(t, c, "h2"); got != "" {
			t.Errorf("h2's lock after the first run: %q, want released", got)
		}

		r = second.wait(t, 3*time.Minute)
		if r.code != 0 {
			t.Errorf("second run: exit %d, want 0", r.code)
		}
		if got := fileOn(t, c, "h1", "/etc/skiff-slow-after"); got != "second" {
			t.Errorf("h1: /etc/skiff-slow-after = %q after the second run", got)
		}
	})

	t.Run("released mid-run: the next change is refused on the host", func(t *testing.T) {
		run := startFaultRun(t, "apply", "-i", inv, slow, "--limit", "h1", "--yes", "--output", "json", "-e", "seconds=12", "-e", "stamp=third")
		run.waitFor(t, 90*time.Second, "the sleep on h1", func() bool { return sleeping(t, c, "h1") })
		if r := skiff(t, "lock", "release", "-i", inv, "--limit", "h1", "--yes"); r.code != 0 {
			t.Fatalf("lock release: exit %d\n%s", r.code, r.stdout)
		}
		r := run.wait(t, 3*time.Minute)
		if r.code != 1 || !strings.Contains(r.stderr, "h1: deploy lock lost: it was released by someone else") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		// The change before the release stays (no lock: no rollback); none after.
		if got := fileOn(t, c, "h1", "/etc/skiff-slow-before"); got != "third" {
			t.Errorf("h1: /etc/skiff-slow-before = %q, want third", got)
		}
		if got := fileOn(t, c, "h1", "/etc/skiff-slow-after"); got != "second" {
			t.Errorf("h1: /etc/skiff-slow-after = %q, want second (unchanged)", got)
		}
	})

	t.Run("a delegate named by a variable is locked", func(t *testing.T) {
		holder := startFaultRun(t, "apply", "-i", inv, slow, "--limit", "h2", "--yes", "-e", "seconds=120", "-e", "stamp=holder")
		holder.waitFor(t, 90*time.Second, "the holder's sleep on h2", func() bool { return sleeping(t, c, "h2") })
		r := skiff(t, "apply", "-i", inv, "integration/testdata/playbooks/delegated.hcl", "--limit", "h1", "-e", "lb=h2", "--yes", "--output", "json")
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "h2: deploy lock held by") {
			t.Errorf("apply delegating to a locked host: exit %d\n%s", r.code, r.stderr)
		}
		if got := fileOn(t, c, "h2", "/etc/skiff-delegated-from-h1"); got != "-" {
			t.Errorf("h2 was changed without its lock: /etc/skiff-delegated-from-h1 = %q", got)
		}
		// The holder is killed: its lock stays, and the next run of this
		// machine takes it over at once, its process being gone.
		if err := holder.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-holder.done
		r = skiff(t, "apply", "-i", inv, "integration/testdata/playbooks/delegated.hcl", "--limit", "h1", "-e", "lb=h2", "--yes", "--output", "json")
		if r.code != 0 || !strings.Contains(r.stderr, "h2: took over the deploy lock of a dead run on this machine") {
			t.Errorf("apply after the holder was killed: exit %d\n%s", r.code, r.stderr)
		}
		if got := fileOn(t, c, "h2", "/etc/skiff-delegated-from-h1"); got != "h1" {
			t.Errorf("h2: /etc/skiff-delegated-from-h1 = %q, want h1", got)
		}
	})
}
