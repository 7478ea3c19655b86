package lock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// me is this process as it writes its locks, run by alice@laptop.
func me(t *testing.T) Info {
	t.Helper()
	i := Self()
	if runtime.GOOS == "linux" && (i.Machine == "" || i.PIDSpace == "" || i.PIDStart == 0) {
		t.Fatalf("Self() = %+v: this Linux process is not identified", i)
	}
	i.Owner, i.RunID, i.Command = "alice@laptop", "20260102T120102-me", "apply"
	return i
}

// deadPID is the PID of a process that ran and was reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// liveProcess is a child process running until the test ends, and its start.
func liveProcess(t *testing.T) (pid int, start uint64) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	start, running, err := processStart(cmd.Process.Pid)
	if err != nil || !running {
		t.Fatalf("start of the live child: %d %v %v", start, running, err)
	}
	return cmd.Process.Pid, start
}

// A lock is taken over as a dead run's only when its holder is certainly
// a process of this machine (same owner, machine id, boot and PID
// namespace) that no longer runs. Two machines, or containers, with the
// same user and host name never take over each other's live locks.
func TestDeadHere(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process start times are read on Linux only")
	}
	self := me(t)
	livePID, liveStart := liveProcess(t)
	holder := func(pid int, start uint64, edit func(*Info)) Info {
		h := self
		h.RunID, h.PID, h.PIDStart = "20260102T110000-old", pid, start
		if edit != nil {
			edit(&h)
		}
		return h
	}
	gone := deadPID(t)
	for _, c := range []struct {
		name   string
		holder Info
		dead   bool
	}{
		{"its process is gone", holder(gone, 12345, nil), true},
		{"its PID now names a process started at another time", holder(livePID, liveStart+1, nil), true},
		{"its process still runs", holder(livePID, liveStart, nil), false},
		{"it is this very process", holder(self.PID, self.PIDStart, nil), false},
		{"another machine with the same user and host name", holder(gone, 12345, func(i *Info) { i.Machine = digest("machine", "another") }), false},
		{"a container of this machine (another PID namespace)", holder(gone, 12345, func(i *Info) { i.PIDSpace = digest("pid space", "another") }), false},
		{"another owner", holder(gone, 12345, func(i *Info) { i.Owner = "bob@laptop" }), false},
		{"a lock of an older skiff", holder(gone, 0, func(i *Info) { i.Machine, i.PIDSpace = "", "" }), false},
		{"no PID", holder(0, 12345, nil), false},
	} {
		if got := DeadHere(c.holder, self); got != c.dead {
			t.Errorf("%s: DeadHere = %v, want %v", c.name, got, c.dead)
		}
	}
	// A process that cannot identify itself takes nothing over.
	unknown := self
	unknown.Machine, unknown.PIDSpace, unknown.PIDStart = "", "", 0
	if DeadHere(holder(gone, 12345, func(i *Info) { i.Machine, i.PIDSpace = "", "" }), unknown) {
		t.Errorf("a process without an identity took over a lock without one")
	}
}

// The identity a lock records is written to and read from the host.
func TestIdentityIsRecorded(t *testing.T) {
	s := newStore(t)
	info := me(t)
	mustAcquire(t, s, info)
	got := status(t, s)
	if got.Machine != info.Machine || got.PIDSpace != info.PIDSpace || got.PIDStart != info.PIDStart || got.PID != info.PID {
		t.Errorf("status = %+v, want the identity of %+v", got, info)
	}
}

// A lock file of an earlier skiff, without the process identity, is still
// read, held while its heartbeat is fresh and taken over once stale.
func TestOldLockFileIsRead(t *testing.T) {
	s := newStore(t)
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	old := `{
  "owner": "alice@laptop",
  "run_id": "20260102T100000-old",
  "command": "apply",
  "pid": ` + strconv.Itoa(deadPID(t)) + `,
  "started": "2026-01-02T10:00:00Z",
  "heartbeat": "2026-01-02T10:00:05Z",
  "host_started": ` + strconv.FormatInt(now-5, 10) + `,
  "host_heartbeat": ` + strconv.FormatInt(now, 10) + `
}
`
	if err := os.WriteFile(filepath.Join(s.Dir, "lock"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	got := status(t, s)
	if got == nil || got.Corrupt || got.Owner != "alice@laptop" || got.RunID != "20260102T100000-old" || got.Machine != "" || got.PIDStart != 0 {
		t.Fatalf("status of an old lock file = %+v", got)
	}
	ctx := context.Background()
	info := me(t)
	if DeadHere(*got, info) {
		t.Errorf("the lock of an older skiff counts as a dead run of this machine")
	}
	_, _, err := s.Acquire(ctx, &transporttest.Local{}, "web1", info, time.Minute)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder.RunID != "20260102T100000-old" {
		t.Fatalf("acquire over a live old lock: %v", err)
	}
	ageHeartbeat(t, s, 10*time.Minute)
	if _, over, err := s.Acquire(ctx, &transporttest.Local{}, "web1", info, time.Minute); err != nil || over == nil || over.RunID != "20260102T100000-old" {
		t.Fatalf("acquire over a stale old lock: %v, took over %+v", err, over)
	}
}

// TakeOver takes the lock of the run named dead, and no other: a lock
// that passed to another run is refused as Acquire refuses it.
func TestTakeOverOnlyTheDeadRun(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustAcquire(t, s, alice())
	carol := bob()
	carol.RunID = "20260102T140000-carol"
	_, _, err := s.TakeOver(ctx, &transporttest.Local{}, "web1", bob(), time.Minute, carol)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder.RunID != alice().RunID {
		t.Fatalf("take over of a lock that is not the dead run's: %v", err)
	}
	l, over, err := s.TakeOver(ctx, &transporttest.Local{}, "web1", bob(), time.Minute, alice())
	if err != nil || over == nil || over.RunID != alice().RunID {
		t.Fatalf("take over of the dead run's lock: %v, took over %+v", err, over)
	}
	if got := status(t, s); got == nil || got.RunID != bob().RunID {
		t.Fatalf("status after the take over = %+v", got)
	}
	if err := l.Heartbeat(ctx); err != nil {
		t.Errorf("heartbeat after the take over: %v", err)
	}
}
