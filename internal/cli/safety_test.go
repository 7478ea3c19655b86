package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/lock"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// testLocker is a locker of a new run whose locks live in store; its
// warnings are collected in warnings.
func testLocker(t *testing.T, store lock.Store, warnings *[]string) *locker {
	t.Helper()
	lk := newLocker("20260102T120000-new", "apply", func(f string, a ...any) { *warnings = append(*warnings, fmt.Sprintf(f, a...)) })
	lk.store = store
	t.Cleanup(lk.release)
	return lk
}

// A run takes over, before its TTL, only the lock of a dead skiff of this
// very machine: another machine (or container) with the same user and host
// name, or a lock of an older skiff that did not say which machine, keeps
// its lock until its heartbeat goes stale.
func TestLockerTakesOverOnlyDeadRunsOfThisMachine(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone := cmd.Process.Pid
	self := lock.Self()
	if self.Machine == "" || self.PIDStart == 0 {
		t.Skip("this system does not identify its processes")
	}
	for _, c := range []struct {
		name     string
		edit     func(*lock.Info)
		takeOver bool
	}{
		{"a dead run of this machine", nil, true},
		{"a run of another machine with the same user and host name", func(i *lock.Info) { i.Machine = strings.Repeat("0", 32) }, false},
		{"a run of an older skiff", func(i *lock.Info) { i.Machine, i.PIDSpace, i.PIDStart = "", "", 0 }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			store := lock.Store{Dir: filepath.Join(t.TempDir(), "skiff")}
			holder := self
			holder.Owner, holder.RunID, holder.Command, holder.PID = owner(), "20260102T110000-old", "apply", gone
			if c.edit != nil {
				c.edit(&holder)
			}
			if _, _, err := store.Acquire(ctx, &transporttest.Local{}, "web1", holder, time.Minute); err != nil {
				t.Fatal(err)
			}
			var warnings []string
			lk := testLocker(t, store, &warnings)
			h := &inventory.Host{Name: "web1"}
			peekErr := lk.peek(ctx, h, &transporttest.Local{})
			err := lk.acquire(ctx, h, &transporttest.Local{})
			got, serr := store.Status(ctx, &transporttest.Local{})
			if serr != nil {
				t.Fatal(serr)
			}
			var held *lock.HeldError
			if c.takeOver {
				if peekErr != nil || err != nil || got.RunID != lk.info.RunID {
					t.Fatalf("peek %v, acquire %v, lock now %+v: the dead run's lock was not taken over", peekErr, err, got)
				}
				if len(warnings) != 1 || !strings.Contains(warnings[0], "web1: took over the deploy lock of a dead run on this machine") {
					t.Errorf("warnings %q", warnings)
				}
				return
			}
			if !errors.As(peekErr, &held) || !errors.As(err, &held) || got.RunID != holder.RunID {
				t.Fatalf("peek %v, acquire %v, lock now %+v: a live lock was taken over", peekErr, err, got)
			}
		})
	}
}

// held reports whether the locker's check before a change on host passes.
func held(t *testing.T, lk *locker, host string) bool {
	t.Helper()
	res, err := (&transporttest.Local{}).Run(context.Background(), lk.Held(host))
	if err != nil {
		t.Fatal(err)
	}
	return res.ExitCode == 0
}

// A lock that another run takes over fails the check before the next
// change on its host; Confirm then names the host and the new holder, and
// the run knows it lost that lock.
func TestLockerCheckBeforeEachChange(t *testing.T) {
	ctx := context.Background()
	store := lock.Store{Dir: filepath.Join(t.TempDir(), "skiff")}
	var warnings []string
	lk := testLocker(t, store, &warnings)
	h := &inventory.Host{Name: "web1"}
	if err := lk.acquire(ctx, h, &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if !held(t, lk, "web1") || held(t, lk, "web2") {
		t.Fatalf("held: web1 %v (locked), web2 %v (never locked)", held(t, lk, "web1"), held(t, lk, "web2"))
	}
	if _, err := store.ForceRelease(ctx, &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	bob := lock.Info{Owner: "bob@desk", RunID: "20260102T130000-bob", Command: "apply", PID: 7}
	if _, _, err := store.Acquire(ctx, &transporttest.Local{}, "web1", bob, time.Minute); err != nil {
		t.Fatal(err)
	}
	if held(t, lk, "web1") {
		t.Fatalf("the check before a change passes on a lock another run took over")
	}
	err := lk.Confirm(ctx, "web1")
	var lost *lock.LostError
	if !errors.As(err, &lost) || !strings.Contains(err.Error(), "web1: deploy lock lost: now held by bob@desk (run 20260102T130000-bob, apply)") {
		t.Fatalf("Confirm = %v", err)
	}
	if got := lk.Lost(); len(got) != 1 || got["web1"] == nil {
		t.Fatalf("Lost = %v", got)
	}
	if err := lk.Confirm(ctx, "web2"); err == nil || !strings.Contains(err.Error(), "web2: not changed: the run has not locked it") {
		t.Errorf("Confirm on a host never locked = %v", err)
	}
	lk.release()
	if got, _ := store.Status(ctx, &transporttest.Local{}); got == nil || got.RunID != bob.RunID {
		t.Errorf("the run's release removed the new holder's lock: %+v", got)
	}
}

// The heartbeat notices a lock released by someone else; when the run
// ends, the lock is read again so that the report names who holds it now,
// and the host fails.
func TestLockerHeartbeatNoticesALostLock(t *testing.T) {
	ctx := context.Background()
	store := lock.Store{Dir: filepath.Join(t.TempDir(), "skiff")}
	var mu sync.Mutex
	var warnings []string
	lk := newLocker("20260102T120000-new", "apply", func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, fmt.Sprintf(f, a...))
	})
	lk.store, lk.every = store, 20*time.Millisecond
	t.Cleanup(lk.release)
	if err := lk.acquire(ctx, &inventory.Host{Name: "web1"}, &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ForceRelease(ctx, &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(lk.Lost()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the heartbeat did not notice the released lock within 30s")
		}
	}
	if err := lk.Lost()["web1"]; err == nil || err.Error() != "web1: deploy lock lost: it was released by someone else" {
		t.Errorf("lost: %v", err)
	}
	mu.Lock()
	if len(warnings) != 1 || warnings[0] != "web1: deploy lock lost: it was released by someone else: the run makes no further change" {
		t.Errorf("warnings %q", warnings)
	}
	mu.Unlock()
	bob := lock.Info{Owner: "bob@desk", RunID: "20260102T130000-bob", Command: "apply", PID: 7}
	if _, _, err := store.Acquire(ctx, &transporttest.Local{}, "web1", bob, time.Minute); err != nil {
		t.Fatal(err)
	}
	lk.release()
	p := &plan.Plan{Hosts: []*plan.Host{{Name: "web1", Changes: []plan.Change{{Summary: "before"}}}, {Name: "web2"}}}
	p.Finish()
	var stderr bytes.Buffer
	(&globals{stderr: &stderr}).reportLost(lk, p)
	if !p.Failed() || p.Hosts[0].Status != plan.StatusFailed || !strings.Contains(p.Hosts[0].Error, "web1: deploy lock lost: now held by bob@desk") || p.Hosts[1].Status != plan.StatusOK {
		t.Errorf("plan after the loss: %+v %+v", *p.Hosts[0], *p.Hosts[1])
	}
	if !strings.Contains(stderr.String(), "skiff: web1: deploy lock lost: now held by bob@desk (run 20260102T130000-bob, apply)") {
		t.Errorf("stderr: %s", stderr.String())
	}
}
