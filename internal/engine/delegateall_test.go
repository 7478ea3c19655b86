package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// meeting pairs the scripts that hosts b and c run: a script waits (up to
// a few seconds) for one on the other host to be under way too, and is
// counted alone when none comes, as when the engine sends to one host
// after the other.
type meeting struct {
	mu      sync.Mutex
	waiting map[string]chan struct{} // host → its script waiting for the other's
	alone   []string
	off     bool // scripts run at once, without waiting
}

func (m *meeting) meet(host, script string) {
	other := map[string]string{"b": "c", "c": "b"}[host]
	m.mu.Lock()
	if m.off {
		m.mu.Unlock()
		return
	}
	if ch, ok := m.waiting[other]; ok {
		delete(m.waiting, other)
		close(ch)
		m.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	m.waiting[host] = ch
	m.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(3 * time.Second):
		m.mu.Lock()
		if m.waiting[host] == ch {
			delete(m.waiting, host)
		}
		m.alone = append(m.alone, host+": "+strings.SplitN(strings.TrimSpace(script), "\n", 2)[0])
		m.mu.Unlock()
	}
}

// meetingConn is a host's connection that meets the other delegate's.
type meetingConn struct {
	transport.Transport
	host string
	m    *meeting
}

func (c *meetingConn) Run(ctx context.Context, script string) (transport.Result, error) {
	c.m.meet(c.host, script)
	return c.Transport.Run(ctx, script)
}

// A task delegated to several hosts (a drain on every lb host) is read on
// all of them in one round trip's wait, and made on all of them at once;
// each change is journaled, and undone when a later task fails.
func TestDelegatedToEveryHostAtOnce(t *testing.T) {
	f := newPlaysFixture(t, map[string]string{"r": `
variable "fail" { default = false }
task "rtouch" "drain" {
  delegate_to = "b,c"
  path        = "DIR/drain-${host.name}"
}
task "touch" "release" {
  path = "DIR/release"
  fail = var.fail
}
`}, `play "p" {
  hosts = "a"
  roles = ["r"]
}`, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &meeting{waiting: map[string]chan struct{}{}}
	f.eng.Hosts = []*inventory.Host{f.eng.Inventory.Host("a")}
	f.eng.Dial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		if h.Name == "a" {
			return f.conns[h.Name], nil
		}
		return &meetingConn{Transport: f.conns[h.Name], host: h.Name, m: m}, nil
	}
	jw, err := journal.Create(filepath.Join(f.dir, "runs"), journal.Run{ID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer jw.Close()
	f.ch.Journal, f.ch.Rollback = jw, true
	f.eng.HostRuns = filepath.Join(f.dir, "hostruns")

	p := f.eng.Apply(context.Background(), f.ch)
	if len(m.alone) > 0 {
		t.Errorf("scripts sent to one delegate while the other waited: %s", strings.Join(m.alone, "; "))
	}
	// (Both delegates share this machine's DIR: each found the file absent.)
	if p.Failed() || len(p.Hosts[0].Changes) != 3 {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	var got []string
	for _, c := range p.Hosts[0].Changes {
		got = append(got, c.Summary)
	}
	if want := "on b: touch DIR/drain-a|on c: touch DIR/drain-a|touch DIR/release"; strings.Join(got, "|") != want {
		t.Errorf("changes %q, want %q (in the play's order)", strings.Join(got, "|"), want)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "DIR", "drain-a")); err != nil {
		t.Errorf("the delegated change was not made: %v", err)
	}

	// A failure after them undoes both delegated changes.
	for _, n := range []string{"drain-a", "release"} {
		os.Remove(filepath.Join(f.dir, "DIR", n))
	}
	m.off = true // undo goes host by host
	f.eng.Scope = NewScope(f.eng.Inventory, nil, map[string]cty.Value{"fail": cty.True}, nil)
	p = f.eng.Apply(context.Background(), f.ch)
	if !p.Failed() || !strings.Contains(p.Hosts[0].Error, "rolled back") {
		t.Fatalf("failing apply: %+v", p.Hosts[0])
	}
	if _, err := os.Stat(filepath.Join(f.dir, "DIR", "drain-a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the delegated change was not undone: %v", err)
	}
}

// A task a host delegates to a selection that includes itself (a web
// server that is also an lb host) is probed with the host's own tasks: one
// script on that host, not two.
func TestDelegatedToItselfProbedWithItsOwnTasks(t *testing.T) {
	f := newPlaysFixture(t, map[string]string{"r": `
task "touch" "own" { path = "DIR/own-${host.name}" }
task "touch" "drain" {
  delegate_to = "a,b"
  path        = "DIR/drain-${host.name}"
}
`}, `play "p" {
  hosts = "a"
  roles = ["r"]
}`, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.eng.Hosts = []*inventory.Host{f.eng.Inventory.Host("a")}
	p := f.eng.Plan(context.Background())
	if p.Failed() || len(p.Hosts[0].Changes) != 3 {
		t.Fatalf("plan: %+v", p.Hosts[0])
	}
	// Facts, then one probe script for both tasks.
	if got := f.conns["a"].Runs(); got != 2 {
		t.Errorf("plan made %d round trips on a, want 2 (facts, one probe)", got)
	}
	if got := f.conns["b"].Runs(); got != 1 {
		t.Errorf("plan made %d round trips on b, want 1 (its probe)", got)
	}
}
