package lock

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func alice() Info {
	return Info{Owner: "alice@laptop", RunID: "20260102T120102-abc", Command: "apply", PID: 4242}
}

func bob() Info {
	return Info{Owner: "bob@desk", RunID: "20260102T130000-def", Command: "rollback", PID: 7}
}

func newStore(t *testing.T) Store {
	t.Helper()
	return Store{Dir: filepath.Join(t.TempDir(), "skiff")}
}

func mustAcquire(t *testing.T, s Store, info Info) *Lock {
	t.Helper()
	l, over, err := s.Acquire(context.Background(), &transporttest.Local{}, "web1", info, time.Minute)
	if err != nil {
		t.Fatalf("acquire %s: %v", info.Owner, err)
	}
	if over != nil {
		t.Fatalf("acquire %s took over %+v", info.Owner, *over)
	}
	return l
}

func status(t *testing.T, s Store) *Info {
	t.Helper()
	i, err := s.Status(context.Background(), &transporttest.Local{})
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	return i
}

func readRecord(t *testing.T, s Store) record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "lock"))
	if err != nil {
		t.Fatal(err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("lock file is not JSON: %v\n%s", err, b)
	}
	return r
}

// ageHeartbeat moves the lock's host_heartbeat (and host_started) back by d.
func ageHeartbeat(t *testing.T, s Store, d time.Duration) {
	t.Helper()
	p := filepath.Join(s.Dir, "lock")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`"host_(heartbeat|started)": (\d+)`)
	b = re.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := re.FindSubmatch(m)
		n, _ := strconv.ParseInt(string(sub[2]), 10, 64)
		return []byte(`"host_` + string(sub[1]) + `": ` + strconv.FormatInt(n-int64(d.Seconds()), 10))
	})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestHeldThenReleased(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := mustAcquire(t, s, alice())

	_, _, err := s.Acquire(ctx, &transporttest.Local{}, "web1", bob(), time.Minute)
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second acquire: want *HeldError, got %v", err)
	}
	if held.Holder.Owner != "alice@laptop" || held.Holder.RunID != alice().RunID || held.Holder.Command != "apply" || held.Holder.PID != 4242 {
		t.Errorf("holder = %+v", held.Holder)
	}
	if age := time.Since(held.Holder.Heartbeat); age < -time.Second || age > 5*time.Second {
		t.Errorf("holder heartbeat %v ago", age)
	}
	msg := err.Error()
	for _, want := range []string{"web1: deploy lock held by alice@laptop", "run 20260102T120102-abc, apply", " UTC, heartbeat ", "s ago", "skiff lock release -i INV --limit web1", "dead"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}

	if got := status(t, s); got == nil || got.RunID != alice().RunID || got.Owner != "alice@laptop" {
		t.Fatalf("status = %+v", got)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	if got := status(t, s); got != nil {
		t.Fatalf("status after release = %+v", got)
	}
	if err := a.Release(ctx); err != nil {
		t.Errorf("second release: %v", err)
	}
	b := mustAcquire(t, s, bob())
	if got := status(t, s); got == nil || got.RunID != bob().RunID {
		t.Fatalf("status = %+v", got)
	}
	_ = b
}

func TestFileLayoutAndModes(t *testing.T) {
	s := newStore(t)
	mustAcquire(t, s, alice())
	st, err := os.Stat(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", st.Mode().Perm())
	}
	fi, err := os.Stat(filepath.Join(s.Dir, "lock"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("lock mode %v", fi.Mode().Perm())
	}
	r := readRecord(t, s)
	now := time.Now().Unix()
	if r.RunID != alice().RunID || r.HostHeartbeat < now-5 || r.HostHeartbeat > now+1 || r.HostStarted != r.HostHeartbeat {
		t.Errorf("record = %+v (now %d)", r, now)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "lock.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

func TestStaleIsTakenOver(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := mustAcquire(t, s, alice())
	ageHeartbeat(t, s, 10*time.Minute)

	// Not stale under a longer TTL.
	if _, _, err := s.Acquire(ctx, &transporttest.Local{}, "web1", bob(), time.Hour); err == nil {
		t.Fatal("lock with a 10m-old heartbeat taken over under a 1h TTL")
	}
	b, over, err := s.Acquire(ctx, &transporttest.Local{}, "web1", bob(), 5*time.Minute)
	if err != nil {
		t.Fatalf("acquire over a stale lock: %v", err)
	}
	if over == nil || over.Owner != "alice@laptop" || over.RunID != alice().RunID || over.Corrupt {
		t.Fatalf("takenOver = %+v", over)
	}
	if age := time.Since(over.Heartbeat); age < 9*time.Minute || age > 11*time.Minute {
		t.Errorf("taken-over heartbeat %v ago, want ~10m", age)
	}
	if got := status(t, s); got == nil || got.RunID != bob().RunID {
		t.Fatalf("status = %+v", got)
	}

	// The dead run, if it comes back, has lost its lock and can't release bob's.
	var lost *LostError
	if err := a.Heartbeat(ctx); !errors.As(err, &lost) || lost.Holder == nil || lost.Holder.Owner != "bob@desk" {
		t.Fatalf("heartbeat of the taken-over lock: %v", err)
	}
	if err := a.Release(ctx); !errors.As(err, &lost) {
		t.Fatalf("release of the taken-over lock: %v", err)
	}
	if got := status(t, s); got == nil || got.RunID != bob().RunID {
		t.Fatalf("bob's lock gone after alice's release: %+v", got)
	}
	if err := b.Heartbeat(ctx); err != nil {
		t.Fatalf("bob's heartbeat: %v", err)
	}
}

func TestCorruptIsTakenOver(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":   "not json at all\n",
		"empty":     "",
		"truncated": "{\n  \"owner\": \"alice@laptop\",\n  \"run_id\": \"x\",\n  \"host_heartbeat\": 17",
		"no epoch":  "{\n  \"owner\": \"alice@laptop\",\n  \"run_id\": \"x\"\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			if err := os.MkdirAll(s.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(s.Dir, "lock"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := status(t, s); got == nil || !got.Corrupt {
				t.Errorf("status of a corrupt lock = %+v", got)
			}
			_, over, err := s.Acquire(context.Background(), &transporttest.Local{}, "web1", bob(), time.Hour)
			if err != nil {
				t.Fatalf("acquire: %v", err)
			}
			if over == nil || !over.Corrupt {
				t.Fatalf("takenOver = %+v", over)
			}
			if r := readRecord(t, s); r.RunID != bob().RunID {
				t.Fatalf("record = %+v", r)
			}
		})
	}
}

func TestRaceHasOneWinner(t *testing.T) {
	s := newStore(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info := alice()
			info.RunID = "run-" + strconv.Itoa(i)
			_, _, errs[i] = s.Acquire(context.Background(), &transporttest.Local{}, "web1", info, time.Minute)
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		var held *HeldError
		switch {
		case err == nil:
			wins++
		case !errors.As(err, &held):
			t.Errorf("acquirer %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d winners, want 1", wins)
	}
}

func TestHeartbeat(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := mustAcquire(t, s, alice())
	ageHeartbeat(t, s, time.Hour)
	before := readRecord(t, s)
	if err := a.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	after := readRecord(t, s)
	if after.HostStarted != before.HostStarted {
		t.Errorf("host_started changed: %d -> %d", before.HostStarted, after.HostStarted)
	}
	if now := time.Now().Unix(); after.HostHeartbeat < now-5 {
		t.Errorf("host_heartbeat %d not refreshed (now %d)", after.HostHeartbeat, now)
	}
	if got := status(t, s); got == nil || time.Since(got.Started) < 59*time.Minute || time.Since(got.Heartbeat) > 5*time.Second {
		t.Errorf("status after heartbeat = %+v", got)
	}
}

func TestForceRelease(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := mustAcquire(t, s, alice())
	got, err := s.ForceRelease(ctx, &transporttest.Local{})
	if err != nil || got == nil || got.RunID != alice().RunID || got.Owner != "alice@laptop" {
		t.Fatalf("force release = %+v, %v", got, err)
	}
	var lost *LostError
	if err := a.Heartbeat(ctx); !errors.As(err, &lost) || lost.Holder != nil || lost.Host != "web1" {
		t.Fatalf("heartbeat after force release: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "lock")); !os.IsNotExist(err) {
		t.Fatalf("heartbeat recreated the lock: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Errorf("release after force release: %v", err)
	}
	if got, err := s.ForceRelease(ctx, &transporttest.Local{}); got != nil || err != nil {
		t.Errorf("force release of a free lock = %+v, %v", got, err)
	}
}

func TestReleaseLeavesOthersLock(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := mustAcquire(t, s, alice())
	if _, err := s.ForceRelease(ctx, &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, s, bob())
	err := a.Release(ctx)
	var lost *LostError
	if !errors.As(err, &lost) || lost.Holder == nil || lost.Holder.RunID != bob().RunID {
		t.Fatalf("release of bob's lock by alice: %v", err)
	}
	if got := status(t, s); got == nil || got.RunID != bob().RunID {
		t.Fatalf("status = %+v", got)
	}
}

func TestReacquireByTheSameRun(t *testing.T) {
	s := newStore(t)
	mustAcquire(t, s, alice())
	mustAcquire(t, s, alice())
}

func TestStatusOfMissingDirChangesNothing(t *testing.T) {
	s := newStore(t)
	if got := status(t, s); got != nil {
		t.Fatalf("status = %+v", got)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Fatalf("status created the directory: %v", err)
	}
	if got, err := s.ForceRelease(context.Background(), &transporttest.Local{}); got != nil || err != nil {
		t.Fatalf("force release = %+v, %v", got, err)
	}
}

// Hostile values go through the heredoc and the grep pattern unharmed.
func TestQuoting(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	marker := filepath.Join(t.TempDir(), "pwned")
	info := Info{
		Owner:   "o'brien\"$(touch " + marker + ")`touch " + marker + "`\nSKIFF_LOCK_JSON\n\\",
		RunID:   "r'1\"$HOME\\n*[x]. SKIFF_LOCK_JSON",
		Command: "apply <&>",
		PID:     1,
	}
	a := mustAcquire(t, s, info)
	got := status(t, s)
	if got == nil || got.Owner != info.Owner || got.RunID != info.RunID || got.Command != info.Command {
		t.Fatalf("status = %+v", got)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatal("a value was executed by the shell")
	}
	// A run id that merely resembles ours is someone else's.
	other := info
	other.RunID = "r'1\"$HOME\\n*[x]"
	if _, _, err := s.Acquire(ctx, &transporttest.Local{}, "web1", other, time.Minute); err == nil {
		t.Fatal("a different run id matched ours")
	}
	if err := a.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	if got := status(t, s); got != nil {
		t.Fatalf("not released: %+v", got)
	}
}

func TestScriptErrorsNameTheHost(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := Store{Dir: filepath.Join(file, "skiff")} // mkdir fails: a file is in the way
	_, _, err := s.Acquire(context.Background(), &transporttest.Local{}, "web1", alice(), time.Minute)
	if err == nil || !strings.HasPrefix(err.Error(), "web1: deploy lock") {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := s.Acquire(context.Background(), &transporttest.Local{}, "web1", Info{}, time.Minute); err == nil {
		t.Fatal("acquired without a run id")
	}
}

// unreachable is a transport whose host can't be reached.
type unreachable struct{ transporttest.Local }

func (*unreachable) Run(context.Context, string) (transport.Result, error) {
	return transport.Result{}, &transport.UnreachableError{Host: "web1", Err: errors.New("connection refused")}
}

func TestUnreachablePassesThrough(t *testing.T) {
	_, _, err := Store{Dir: t.TempDir()}.Acquire(context.Background(), &unreachable{}, "web1", alice(), time.Minute)
	if !transport.IsUnreachable(err) {
		t.Fatalf("err = %v", err)
	}
	if _, err := (Store{}).Status(context.Background(), &unreachable{}); !transport.IsUnreachable(err) {
		t.Fatalf("status err = %v", err)
	}
}

func TestDescribe(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 5, 0, 0, time.UTC)
	i := alice()
	i.Started = time.Date(2026, 1, 2, 12, 1, 2, 0, time.UTC)
	i.Heartbeat = now.Add(-5 * time.Second)
	if got, want := Describe(i, now), "alice@laptop (run 20260102T120102-abc, apply) since 12:01:02 UTC, heartbeat 5s ago"; got != want {
		t.Errorf("Describe = %q\nwant       %q", got, want)
	}
	if got := Describe(i, now.Add(48*time.Hour)); !strings.Contains(got, "since 2026-01-02 12:01:02 UTC") {
		t.Errorf("Describe, two days later = %q", got)
	}
	if got := Describe(Info{Corrupt: true}, now); got != "an unreadable lock file" {
		t.Errorf("Describe(corrupt) = %q", got)
	}
}
