package engine

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func TestScheduleWaits(t *testing.T) {
	roles := map[string]string{
		"r": `task "touch" "t" { path = "DIR/${host.name}" }`,
		"d": `task "touch" "t" {
  delegate_to = "a"
  path        = "DIR/d-${host.name}"
}`,
	}
	f := newPlaysFixture(t, roles, `
play "all"    { hosts = "all"  roles = ["r"] }
play "b"      { hosts = "b"    roles = ["r"] }
play "c"      { hosts = "c"    roles = ["r"]  after = ["all"] }
play "a"      { hosts = "a"    roles = ["r"]  after = ["all"] }
play "ab"     { hosts = "a,b"  roles = ["r"]  after = ["all"] }
play "c2"     { hosts = "c"    roles = ["d"]  after = ["c"] }
play "last"   { hosts = "b"    roles = ["r"] }
`, "")
	got := f.eng.schedule(f.eng.Inventory.Hosts)
	want := [][]int{
		nil,
		{0},             // b: no after, every earlier play
		{0},             // c: "all" only (b shares no host)
		{0},             // a: the same
		{0, 1, 3},       // ab: "all", and b and a share its hosts
		{0, 1, 2, 3, 4}, // c2 delegates: it may touch any host
		{0, 1, 2, 3, 4, 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	// --limit narrows the hosts a play touches: limited to a, c shares
	// nothing with anything.
	got = f.eng.schedule([]*inventory.Host{f.eng.Inventory.Host("a")})
	if got[2] == nil || len(got[2]) != 1 || got[4][len(got[4])-1] != 3 {
		t.Errorf("limited to a: waits = %v", got)
	}
}

// holdingRun holds each Run until release is closed, or, once, for 10s:
// then gaveUp is set and it holds no more.
type holdingRun struct {
	*transporttest.Local
	release <-chan struct{}
	gaveUp  *atomic.Bool
}

func (h holdingRun) Run(ctx context.Context, script string) (transport.Result, error) {
	if !h.gaveUp.Load() {
		select {
		case <-h.release:
		case <-time.After(10 * time.Second):
			h.gaveUp.Store(true)
		}
	}
	return h.Local.Run(ctx, script)
}

// countingRun closes started at its first Run.
type countingRun struct {
	*transporttest.Local
	once    *sync.Once
	started chan struct{}
}

func (c countingRun) Run(ctx context.Context, script string) (transport.Result, error) {
	c.once.Do(func() { close(c.started) })
	return c.Local.Run(ctx, script)
}

// Plays that wait for none of each other run at once: "slow" on b is held
// until "quick" on c has started, which it could not in playbook order.
func TestPlaysAfterRunAtOnce(t *testing.T) {
	f := newPlaysFixture(t, map[string]string{"r": `task "touch" "t" { path = "DIR/${host.name}-${var.n}" }
variable "n" { default = "x" }`}, `
play "first" { hosts = "a"  roles = ["r"] }
play "slow"  { hosts = "b"  roles = ["r"] }
play "quick" { hosts = "c"  roles = ["r"]  after = ["first"] }
play "last"  { hosts = "all"  roles = ["r"]  vars = { n = "last" } }
`, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	b := holdingRun{f.conns["b"], started, &atomic.Bool{}}
	c := countingRun{f.conns["c"], &sync.Once{}, started}
	dial := f.eng.Dial
	f.eng.Dial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		switch h.Name {
		case "b":
			return b, nil
		case "c":
			return c, nil
		}
		return dial(ctx, h)
	}
	p := f.eng.Apply(context.Background(), f.ch)
	if p.Failed() {
		t.Fatalf("apply: %+v", p.Hosts)
	}
	if b.gaveUp.Load() {
		t.Errorf("quick never started while slow ran: the plays ran one after the other")
	}
	for _, n := range []string{"a-x", "b-x", "c-x", "a-last", "b-last", "c-last"} {
		if _, err := os.Stat(filepath.Join(f.dir, "DIR", n)); err != nil {
			t.Errorf("%s missing after apply", n)
		}
	}
}

// A play that stops the run stops every play that has not started: "bad"
// fails on b; "last" never starts ("quick", which needs only "first", may
// or may not have started by then).
func TestPlayThatStopsTheRunStopsLaterPlays(t *testing.T) {
	f := newPlaysFixture(t, map[string]string{"r": `variable "n" { default = "x" }
task "touch" "t" {
  path = "DIR/${host.name}-${var.n}"
  fail = host.name == "b" && var.n == "x"
}`}, `
play "first" { hosts = "a"  roles = ["r"] }
play "bad"   { hosts = "b"  roles = ["r"]  max_fail = 0 }
play "quick" { hosts = "c"  roles = ["r"]  after = ["first"] }
play "last"  { hosts = "a,c"  roles = ["r"]  vars = { n = "last" } }
`, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := f.eng.Apply(context.Background(), f.ch)
	if !p.Failed() {
		t.Fatalf("apply did not fail: %+v", p.Hosts)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "DIR", "a-x")); err != nil {
		t.Errorf("a-x missing: the first play did not run")
	}
	for _, n := range []string{"a-last", "c-last"} {
		if _, err := os.Stat(filepath.Join(f.dir, "DIR", n)); err == nil {
			t.Errorf("%s exists: a play after the failed one ran", n)
		}
	}
}

// A kind that acts on other hosts makes its play wait for every earlier
// play, and every later one wait for it, as delegate_to does.
func TestScheduleKindsThatSpanHosts(t *testing.T) {
	f := newPlaysFixture(t, map[string]string{"r": `task "touch" "t" { path = "DIR/${host.name}" }`}, `
play "a"  { hosts = "a"  roles = ["r"] }
play "b"  { hosts = "b"  roles = ["r"]  after = [] }
play "c"  { hosts = "c"  roles = ["r"]  after = [] }
`, "")
	if got := f.eng.schedule(f.eng.Inventory.Hosts); got[1] != nil || got[2] != nil {
		t.Fatalf("waits = %v, want b and c waiting for nothing", got)
	}
	f.eng.SpansHosts = map[string]bool{"touch": true}
	if got := f.eng.schedule(f.eng.Inventory.Hosts); !reflect.DeepEqual(got, [][]int{nil, {0}, {0, 1}}) {
		t.Errorf("with touch spanning hosts: waits = %v, want every earlier play", got)
	}
}

// A task that would make its play run alone does not when its when is
// false on every host of the play; a when that reads facts may be true.
func TestScheduleReadsWhen(t *testing.T) {
	f := newPlaysFixture(t, map[string]string{
		"r":     `task "rtouch" "t" { path = "DIR/${host.name}" }`,
		"off":   "variable \"on\" { default = false }\ntask \"touch\" \"t\" {\n  when = var.on\n  path = \"DIR/${host.name}\"\n}\n",
		"facts": "task \"touch\" \"t\" {\n  when = facts.os_id == \"debian\"\n  path = \"DIR/${host.name}\"\n}\n",
	}, `
play "a"  { hosts = "a"  roles = ["r"] }
play "b"  { hosts = "b"  roles = ["off"]  after = [] }
play "c"  { hosts = "c"  roles = ["facts"]  after = [] }
play "b2" { hosts = "b"  roles = ["off"]  after = []  vars = { on = true } }
`, "")
	f.eng.SpansHosts = map[string]bool{"touch": true}
	got := f.eng.schedule(f.eng.Inventory.Hosts)
	want := [][]int{nil, nil, {0, 1}, {0, 1, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("waits = %v, want %v (b: when false everywhere; c: when reads facts; b2: when true)", got, want)
	}
}
