package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// Every host a run may change is locked before its first change, however
// its tasks and handlers name it: by a variable or another expression as
// well as by a literal selection.
func TestDelegatesNamedByExpressionsAreLocked(t *testing.T) {
	role := `
variable "lb" { default = "nobody" }
task "touch" "by_variable" {
  delegate_to = var.lb
  path        = "DIR/var-from-${host.name}"
  notify      = ["by_handler"]
}
task "touch" "by_expression" {
  delegate_to = host.name == "a" ? "c" : "b"
  path        = "DIR/expr-from-${host.name}"
}
handler "touch" "by_handler" {
  delegate_to = "c"
  path        = "DIR/handler-from-${host.name}"
}
`
	f := newPlaysFixture(t, map[string]string{"r": role}, `
play "p" {
  hosts = "a"
  vars  = { lb = "b" }
  roles = ["r"]
}`, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var peeks, locks []string
	f.ch.Locks = &hookLocks{
		peek: func(ctx context.Context, host string, t transport.Transport) error {
			mu.Lock()
			peeks = append(peeks, host)
			mu.Unlock()
			_, err := t.Run(ctx, ":")
			return err
		},
		take: func(ctx context.Context, host string, t transport.Transport) error {
			mu.Lock()
			defer mu.Unlock()
			locks = append(locks, host)
			return nil
		},
	}
	p := f.eng.Apply(context.Background(), f.ch)
	if p.Failed() || p.Summary.Changed != 1 || len(p.Hosts[0].Changes) != 3 {
		t.Fatalf("apply: %+v %+v", p.Summary, p.Hosts[0])
	}
	sort.Strings(locks)
	sort.Strings(peeks)
	if want := []string{"a", "b", "c"}; !slices.Equal(locks, want) || !slices.Equal(peeks, want) {
		t.Errorf("locked %v and checked %v, want %v: a delegate was changed without its lock", locks, peeks, want)
	}
}

// A delegate_to that depends on the facts is not known before the hosts
// are read: every host it could name, any host, is locked.
func TestDelegateKnownOnlyFromFactsLocksEveryHost(t *testing.T) {
	f := newPlaysFixture(t, map[string]string{"r": `
task "touch" "by_facts" {
  delegate_to = facts.hostname == "" ? "b" : "c"
  path        = "DIR/facts-from-${host.name}"
}`}, `play "p" { hosts = "a"  roles = ["r"] }`, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var locks []string
	f.ch.Locks = &hookLocks{
		peek: func(ctx context.Context, host string, t transport.Transport) error {
			_, err := t.Run(ctx, ":")
			return err
		},
		take: func(ctx context.Context, host string, t transport.Transport) error {
			mu.Lock()
			defer mu.Unlock()
			locks = append(locks, host)
			return nil
		},
	}
	if p := f.eng.Apply(context.Background(), f.ch); p.Failed() || p.Summary.Changed != 1 {
		t.Fatalf("apply: %+v %+v", p.Summary, p.Hosts[0])
	}
	sort.Strings(locks)
	if want := []string{"a", "b", "c"}; !slices.Equal(locks, want) {
		t.Errorf("locked %v, want %v", locks, want)
	}
}
