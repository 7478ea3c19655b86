package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// fileLocks are deploy locks faked with files of dir: the run holds a
// host's lock until stolen-HOST exists (another run took it over), and
// its heartbeat has noticed the loss of HOST's lock once noticed-HOST
// exists.
type fileLocks struct {
	dir string

	mu        sync.Mutex
	confirmed map[string]error
}

func (l *fileLocks) Peek(context.Context, string, transport.Transport) error { return nil }
func (l *fileLocks) Take(context.Context, string, transport.Transport) error { return nil }
func (l *fileLocks) Release()                                                {}

func (l *fileLocks) Held(host string) string {
	return fmt.Sprintf("[ ! -e %q ]", filepath.Join(l.dir, "stolen-"+host))
}

func (l *fileLocks) Confirm(_ context.Context, host string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := fmt.Errorf("%s: deploy lock lost: now held by bob@desk", host)
	l.confirmed[host] = err
	return err
}

func (l *fileLocks) Lost() map[string]error {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]error{}
	for h, err := range l.confirmed {
		out[h] = err
	}
	noticed, _ := filepath.Glob(filepath.Join(l.dir, "noticed-*"))
	for _, p := range noticed {
		h := strings.TrimPrefix(filepath.Base(p), "noticed-")
		out[h] = fmt.Errorf("%s: deploy lock lost: now held by carol@desk", h)
	}
	return out
}

// lockedRun is a fixture of hosts a, b and c, worked on one at a time in
// that order, whose apply journals its changes and rolls back, with its
// deploy locks faked by fileLocks.
func lockedRun(t *testing.T, r1 string) *fixture {
	t.Helper()
	f := newPlaysFixture(t, map[string]string{
		"r1": r1,
		"r2": `task "rtouch" "z" { path = "DIR/${host.name}-z" }`,
	}, `
play "one" { hosts = "all"  roles = ["r1"] }
play "two" { hosts = "all"  roles = ["r2"] }
`, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	id := "locktest-" + token()
	w, err := journal.Create(filepath.Join(f.dir, "runs"), journal.Run{ID: id, Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	f.ch.Journal, f.ch.Rollback, f.eng.RunID, f.eng.Forks = w, true, id, 1
	f.eng.HostRuns = filepath.Join(f.dir, "hostruns")
	f.ch.Locks = &fileLocks{dir: filepath.Join(f.dir, "DIR"), confirmed: map[string]error{}}
	return f
}

func files(t *testing.T, f *fixture) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(f.dir, "DIR", "*"))
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	sort.Strings(m)
	return m
}

func hostOf(p *plan.Plan, name string) *plan.Host {
	for _, h := range p.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// A host whose lock another run took over while a task ran gets no
// further change: the check before the next one, on the host, stops it.
// Its changes are not rolled back (they may be the other run's to keep),
// and the run makes no further change on any host.
func TestTakenOverLockStopsTheRun(t *testing.T) {
	f := lockedRun(t, `
task "rtouch" "x" { path = "DIR/${host.name}-x" }
task "touch" "steal" {
  path = "DIR/stolen-${host.name}"
  when = host.name == "a"
}
task "rtouch" "y" { path = "DIR/${host.name}-y" }
`)
	p := f.eng.Apply(context.Background(), f.ch)
	if got, want := files(t, f), []string{"a-x", "stolen-a"}; !slices.Equal(got, want) {
		t.Errorf("files after the run: %v, want %v (a change after the lock was lost, or a rollback on the lost host)", got, want)
	}
	a := hostOf(p, "a")
	if a.Status != plan.StatusFailed || !strings.Contains(a.Error, "a: deploy lock lost: now held by bob@desk") ||
		!strings.Contains(a.Error, "a not rolled back: the run no longer holds its deploy lock") || a.RolledBack {
		t.Errorf("a: %s %q (rolled back %v)", a.Status, a.Error, a.RolledBack)
	}
	for _, name := range []string{"b", "c"} {
		h := hostOf(p, name)
		if h.Status != plan.StatusFailed || !strings.Contains(h.Error, "stopped before one/r1 rtouch.x: a: deploy lock lost: now held by bob@desk") {
			t.Errorf("%s: %s %q", name, h.Status, h.Error)
		}
	}
	if !p.Failed() {
		t.Errorf("the run did not fail")
	}
}

// When the heartbeat notices that a lock was lost, every host stops before
// its next change; a host whose lock the run still holds rolls back its
// interrupted play, as for an interrupt.
func TestLostLockNoticedStopsEveryHost(t *testing.T) {
	f := lockedRun(t, `
task "rtouch" "x" { path = "DIR/${host.name}-x" }
task "touch" "notice" {
  path = "DIR/noticed-a"
  when = host.name == "b"
}
task "rtouch" "y" { path = "DIR/${host.name}-y" }
`)
	p := f.eng.Apply(context.Background(), f.ch)
	if got, want := files(t, f), []string{"a-x", "a-y", "noticed-a"}; !slices.Equal(got, want) {
		t.Errorf("files after the run: %v, want %v", got, want)
	}
	b := hostOf(p, "b")
	if b.Status != plan.StatusFailed || !strings.Contains(b.Error, "stopped before one/r1 rtouch.y: a: deploy lock lost: now held by carol@desk") ||
		!strings.Contains(b.Error, "rolled back 1 of 2 change(s)") || !b.RolledBack {
		t.Errorf("b: %s %q (rolled back %v)", b.Status, b.Error, b.RolledBack)
	}
	if c := hostOf(p, "c"); c.Status != plan.StatusFailed || !strings.Contains(c.Error, "stopped before one/r1 rtouch.x") {
		t.Errorf("c: %s %q", c.Status, c.Error)
	}
}

// A change on a host whose lock the run does not hold is refused on the
// host, before anything else noticed.
func TestChangeRefusedWhereTheLockIsNotHeld(t *testing.T) {
	f := lockedRun(t, `task "rtouch" "x" { path = "DIR/${host.name}-x" }`)
	os.WriteFile(filepath.Join(f.dir, "DIR", "stolen-c"), nil, 0o644)
	p := f.eng.Apply(context.Background(), f.ch)
	if got, want := files(t, f), []string{"a-x", "b-x", "stolen-c"}; !slices.Equal(got, want) {
		t.Errorf("files after the run: %v, want %v", got, want)
	}
	if c := hostOf(p, "c"); c.Status != plan.StatusFailed || !strings.Contains(c.Error, "c: deploy lock lost") {
		t.Errorf("c: %s %q", c.Status, c.Error)
	}
}
