package cli

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"skiff/internal/inventory"
	"skiff/internal/lock"
	"skiff/internal/module/moduletest"
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
			if _, _, err := store.Acquire(ctx, &moduletest.Local{}, "web1", holder, time.Minute); err != nil {
				t.Fatal(err)
			}
			var warnings []string
			lk := testLocker(t, store, &warnings)
			h := &inventory.Host{Name: "web1"}
			peekErr := lk.peek(ctx, h, &moduletest.Local{})
			err := lk.acquire(ctx, h, &moduletest.Local{})
			got, serr := store.Status(ctx, &moduletest.Local{})
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
