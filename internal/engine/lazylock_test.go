package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// hookLocks are deploy locks faked with hooks: Peek, Take and Release
// call peek, take and release (nil: nothing, and no round trip); the run
// always holds them.
type hookLocks struct {
	peek, take func(ctx context.Context, host string, t transport.Transport) error
	release    func()
}

func (l *hookLocks) Peek(ctx context.Context, host string, t transport.Transport) error {
	if l.peek == nil {
		return nil
	}
	return l.peek(ctx, host, t)
}

func (l *hookLocks) Take(ctx context.Context, host string, t transport.Transport) error {
	if l.take == nil {
		return nil
	}
	return l.take(ctx, host, t)
}

func (l *hookLocks) Held(string) string                    { return "true" }
func (l *hookLocks) Confirm(context.Context, string) error { return nil }
func (l *hookLocks) Lost() map[string]error                { return nil }
func (l *hookLocks) Release() {
	if l.release != nil {
		l.release()
	}
}

// lockLog records the lock hooks' calls, and the first apply's moment.
type lockLog struct {
	mu     sync.Mutex
	peeks  []string
	locks  []string
	refuse string // host whose Take fails
	bad    bool   // a change was applied before a lock
}

func lazyFixture(t *testing.T, l *lockLog) *fixture {
	f := threePlays(t, map[string]string{
		// gated always finds a change once its file is gone, but runs only
		// when x changes.
		"r1": "task \"touch\" \"x\" { path = \"DIR/${host.name}-x\" }\n" +
			"task \"touch\" \"gated\" {\n  path = \"DIR/${host.name}-gated\"\n  if_changed = [\"touch.x\"]\n}\n",
		"r2": `task "touch" "y" { path = "DIR/${host.name}-y" }`,
		"r3": `task "touch" "z" { path = "DIR/${host.name}-z" }`,
	})
	f.ch.Locks = &hookLocks{
		peek: func(ctx context.Context, host string, t transport.Transport) error {
			l.mu.Lock()
			l.peeks = append(l.peeks, host)
			l.mu.Unlock()
			_, err := t.Run(ctx, "echo free")
			return err
		},
		take: func(ctx context.Context, host string, t transport.Transport) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.locks = append(l.locks, host)
			if host == l.refuse {
				return errors.New(host + ": deploy lock held by someone")
			}
			return nil
		},
	}
	f.eng.FactsDir = filepath.Join(f.dir, "facts")
	return f
}

// A lazily locked apply takes every host's lock before its first change
// (none exists before the locks), and an apply that changes nothing takes
// none: one session per host, and no lock written.
func TestLazyLockOnlyWhenSomethingChanges(t *testing.T) {
	l := &lockLog{}
	f := lazyFixture(t, l)
	dir := filepath.Join(f.dir, "DIR")
	probeDir := func() int { m, _ := filepath.Glob(filepath.Join(dir, "*")); return len(m) }
	if probeDir() != 0 {
		t.Fatal("DIR not empty")
	}
	locks := f.ch.Locks.(*hookLocks)
	take := locks.take
	locks.take = func(ctx context.Context, host string, t transport.Transport) error {
		if probeDir() != 0 {
			l.bad = true
		}
		return take(ctx, host, t)
	}
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || p.Summary.Changed != 3 {
		t.Fatalf("first apply: %+v", p.Summary)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*-gated")); len(m) != 3 {
		t.Fatalf("the gated task did not run with x's change: %v", m)
	}
	if len(l.locks) != 3 || len(l.peeks) != 3 {
		t.Errorf("first apply: %d peeks, %d locks, want 3 and 3", len(l.peeks), len(l.locks))
	}
	if l.bad {
		t.Errorf("a change was applied before every lock was taken")
	}
	l.locks, l.peeks = nil, nil
	for _, h := range []string{"a", "b", "c"} {
		os.Remove(filepath.Join(dir, h+"-gated"))
	}
	f.resetRuns()
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || p.Summary.Changed != 0 {
		t.Fatalf("no-op apply: %+v", p.Summary)
	}
	if len(l.locks) != 0 || len(l.peeks) != 3 {
		t.Errorf("no-op apply: %d peeks, %d locks, want 3 and 0", len(l.peeks), len(l.locks))
	}
	for _, h := range []string{"a", "b", "c"} {
		if got := f.conns[h].Runs(); got != 1 {
			t.Errorf("no-op apply: %d sessions on %s, want 1", got, h)
		}
	}
}

// When a host's lock is refused at the first change, nothing changes
// anywhere; the refused host says why and the others that the run stopped.
func TestLazyLockRefusedChangesNothing(t *testing.T) {
	l := &lockLog{refuse: "b"}
	f := lazyFixture(t, l)
	os.WriteFile(filepath.Join(f.dir, "DIR", "a-x"), nil, 0o644) // a needs less
	p := f.eng.Apply(context.Background(), f.ch)
	if !p.Failed() || p.Summary.Changed != 0 {
		t.Fatalf("apply with a refused lock: %+v", p.Summary)
	}
	m, _ := filepath.Glob(filepath.Join(f.dir, "DIR", "*"))
	if len(m) != 1 {
		t.Errorf("files after a refused apply: %v, want only a-x", m)
	}
	for _, h := range p.Hosts {
		want := "not run: the run stopped before any change because [b] could not be locked"
		if h.Name == "b" {
			want = "b: deploy lock held by someone"
		}
		if h.Status != "failed" || !strings.Contains(h.Error, want) {
			t.Errorf("%s: %s %q, want failed %q", h.Name, h.Status, h.Error, want)
		}
	}
}
