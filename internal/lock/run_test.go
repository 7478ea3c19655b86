package lock

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// testRun is the locks of a new run whose locks live in store; its
// warnings are collected in warnings.
func testRun(t *testing.T, store Store, every time.Duration, warnings *[]string) *Run {
	t.Helper()
	var mu sync.Mutex
	r := NewRun(Options{RunID: "20260102T120000-new", Command: "apply", Owner: "alice@laptop", Store: store, Every: every,
		Warn: func(f string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			*warnings = append(*warnings, fmt.Sprintf(f, a...))
		}})
	t.Cleanup(r.Release)
	return r
}

// A run takes over, before its TTL, only the lock of a dead skiff of this
// very machine: another machine (or container) with the same user and host
// name, or a lock of an older skiff that did not say which machine, keeps
// its lock until its heartbeat goes stale.
func TestRunTakesOverOnlyDeadRunsOfThisMachine(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone := cmd.Process.Pid
	self := Self()
	if self.Machine == "" || self.PIDStart == 0 {
		t.Skip("this system does not identify its processes")
	}
	for _, c := range []struct {
		name     string
		edit     func(*Info)
		takeOver bool
	}{
		{"a dead run of this machine", nil, true},
		{"a run of another machine with the same user and host name", func(i *Info) { i.Machine = strings.Repeat("0", 32) }, false},
		{"a run of an older skiff", func(i *Info) { i.Machine, i.PIDSpace, i.PIDStart = "", "", 0 }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			store := newStore(t)
			holder := self
			holder.Owner, holder.RunID, holder.Command, holder.PID = "alice@laptop", "20260102T110000-old", "apply", gone
			if c.edit != nil {
				c.edit(&holder)
			}
			if _, _, err := store.Acquire(ctx, &transporttest.Local{}, "web1", holder, time.Minute); err != nil {
				t.Fatal(err)
			}
			var warnings []string
			r := testRun(t, store, 0, &warnings)
			peekErr := r.Peek(ctx, "web1", &transporttest.Local{})
			err := r.Take(ctx, "web1", &transporttest.Local{})
			got, serr := store.Status(ctx, &transporttest.Local{})
			if serr != nil {
				t.Fatal(serr)
			}
			var held *HeldError
			if c.takeOver {
				if peekErr != nil || err != nil || got.RunID != r.Info().RunID {
					t.Fatalf("peek %v, take %v, lock now %+v: the dead run's lock was not taken over", peekErr, err, got)
				}
				if len(warnings) != 1 || !strings.Contains(warnings[0], "web1: took over the deploy lock of a dead run on this machine") {
					t.Errorf("warnings %q", warnings)
				}
				return
			}
			if !errors.As(peekErr, &held) || !errors.As(err, &held) || got.RunID != holder.RunID {
				t.Fatalf("peek %v, take %v, lock now %+v: a live lock was taken over", peekErr, err, got)
			}
		})
	}
}

// heldOn reports whether the run's check before a change on host passes.
func heldOn(t *testing.T, r *Run, host string) bool {
	t.Helper()
	res, err := (&transporttest.Local{}).Run(context.Background(), r.Held(host))
	if err != nil {
		t.Fatal(err)
	}
	return res.ExitCode == 0
}

// A lock that another run takes over fails the check before the next
// change on its host; Confirm then names the host and the new holder, and
// the run knows it lost that lock. Release leaves the new holder's lock.
func TestRunCheckBeforeEachChange(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	var warnings []string
	r := testRun(t, store, 0, &warnings)
	if err := r.Take(ctx, "web1", &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if !heldOn(t, r, "web1") || heldOn(t, r, "web2") {
		t.Fatalf("held: web1 %v (locked), web2 %v (never locked)", heldOn(t, r, "web1"), heldOn(t, r, "web2"))
	}
	if _, err := store.ForceRelease(ctx, &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Acquire(ctx, &transporttest.Local{}, "web1", bob(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if heldOn(t, r, "web1") {
		t.Fatalf("the check before a change passes on a lock another run took over")
	}
	err := r.Confirm(ctx, "web1")
	var lost *LostError
	if !errors.As(err, &lost) || !strings.Contains(err.Error(), "web1: deploy lock lost: now held by bob@desk (run 20260102T130000-def, rollback)") {
		t.Fatalf("Confirm = %v", err)
	}
	if got := r.Lost(); len(got) != 1 || got["web1"] == nil {
		t.Fatalf("Lost = %v", got)
	}
	if err := r.Confirm(ctx, "web2"); err == nil || !strings.Contains(err.Error(), "web2: not changed: the run has not locked it") {
		t.Errorf("Confirm on a host never locked = %v", err)
	}
	r.Release()
	if got, _ := store.Status(ctx, &transporttest.Local{}); got == nil || got.RunID != bob().RunID {
		t.Errorf("the run's release removed the new holder's lock: %+v", got)
	}
}

// The heartbeat notices a lock released by someone else; when the run
// ends, the lock is read again so that Lost names who holds it now.
func TestRunHeartbeatNoticesALostLock(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	var warnings []string
	r := testRun(t, store, 20*time.Millisecond, &warnings)
	if err := r.Take(ctx, "web1", &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ForceRelease(ctx, &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(r.Lost()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the heartbeat did not notice the released lock within 30s")
		}
	}
	if err := r.Lost()["web1"]; err == nil || err.Error() != "web1: deploy lock lost: it was released by someone else" {
		t.Errorf("lost: %v", err)
	}
	if _, _, err := store.Acquire(ctx, &transporttest.Local{}, "web1", bob(), time.Minute); err != nil {
		t.Fatal(err)
	}
	r.Release() // waits for the heartbeats: warnings is no longer written
	if len(warnings) != 1 || warnings[0] != "web1: deploy lock lost: it was released by someone else: the run makes no further change" {
		t.Errorf("warnings %q", warnings)
	}
	if err := r.Lost()["web1"]; err == nil || !strings.Contains(err.Error(), "web1: deploy lock lost: now held by bob@desk (run 20260102T130000-def, rollback)") {
		t.Errorf("lost after release: %v", err)
	}
	if got, _ := store.Status(ctx, &transporttest.Local{}); got == nil || got.RunID != bob().RunID {
		t.Errorf("the run's release removed the new holder's lock: %+v", got)
	}
}
