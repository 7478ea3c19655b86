package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// A plan holds nothing through which a host could change: no deploy
// locks, no journal, no pins, neither in the Engine it runs on nor in its
// changer. Those are Changes, which only Apply takes.
func TestPlanHoldsNoMeansOfChange(t *testing.T) {
	forbidden := map[reflect.Type]bool{
		reflect.TypeFor[Locker]():            true,
		reflect.TypeFor[*journal.Writer]():   true,
		reflect.TypeFor[plan.Contents]():     true,
		reflect.TypeFor[Changes]():           true,
		reflect.TypeFor[*applier]():          true,
		reflect.TypeFor[*hostprobe.Binary](): true, // copies itself to hosts
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[Engine](), reflect.TypeFor[planner]()} {
		for i := range typ.NumField() {
			if f := typ.Field(i); forbidden[f.Type] {
				t.Errorf("%s.%s is a %s: a plan could change hosts through it", typ.Name(), f.Name, f.Type)
			}
		}
	}
}

// closeLog is a transport that logs its Close, as the run's last cleanup.
type closeLog struct {
	transport.Transport
	host string
	log  *events
}

func (c closeLog) Close() error { c.log.add("close " + c.host); return nil }

type events struct {
	mu sync.Mutex
	l  []string
}

func (e *events) add(s string) { e.mu.Lock(); e.l = append(e.l, s); e.mu.Unlock() }

// An apply's steps clean up in reverse order, even when one stops the
// run: the locks are released while the connections are still open, and
// a run stopped by a lock held elsewhere (it took none) closes its
// connections all the same.
func TestApplyCleansUpInReverseOrder(t *testing.T) {
	for _, refuse := range []string{"", "b"} {
		f := threePlays(t, map[string]string{
			"r1": `task "touch" "x" { path = "DIR/${host.name}-x" }`, "r2": "", "r3": "",
		})
		log := &events{}
		dial := f.eng.Dial
		f.eng.Dial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
			tr, err := dial(ctx, h)
			if err != nil {
				return nil, err
			}
			return closeLog{tr, h.Name, log}, nil
		}
		f.ch.Locks = &hookLocks{peek: func(ctx context.Context, host string, t transport.Transport) error {
			if host == refuse {
				return errors.New(host + ": deploy lock held by someone")
			}
			return nil
		}, release: func() { log.add("release") }}
		p := f.eng.Apply(context.Background(), f.ch)
		if p.Failed() != (refuse != "") {
			t.Errorf("refuse %q: apply %+v", refuse, p.Summary)
		}
		want := []string{"release", "close a", "close b", "close c"}
		if refuse != "" {
			want = want[1:]
		}
		got := slices.Clone(log.l)
		if len(got) > 0 && got[0] == "release" {
			slices.Sort(got[1:]) // the connections close in any order
		} else {
			slices.Sort(got)
		}
		if !slices.Equal(got, want) {
			t.Errorf("refuse %q: cleanups %v, want %v", refuse, log.l, want)
		}
	}
}

// A host that fails on a configuration error keeps its diagnostics, placed
// in the role file as written (after a one-line block), for the JSON
// output; its error says the same in one line.
func TestHostFailureKeepsItsDiagnostics(t *testing.T) {
	f := newFixture(t, `task "touch" "a" { path = "DIR/${host.name}-a"  when = true }
task "touch" "b" {
  path = "DIR/${facts.nope}"
}
`, "")
	t.Chdir(f.dir)
	p := f.eng.Plan(context.Background())
	h := p.Hosts[0]
	if h.Status != plan.StatusFailed || len(h.Diagnostics) != 1 {
		t.Fatalf("host %+v, want failed with one diagnostic", h)
	}
	d := h.Diagnostics[0]
	file := filepath.Join(f.dir, "roles", "r", "role.hcl")
	if r := d.Range; r == nil || r.File != file || r.Line != 3 || r.Column != 22 || d.Summary != "Unsupported attribute" {
		t.Errorf("diagnostic %+v, want %s:3:22 Unsupported attribute", d, file)
	}
	if want := fmt.Sprintf("%s:3:22: Unsupported attribute", file); !strings.Contains(h.Error, want) {
		t.Errorf("error %q, want it to say %q", h.Error, want)
	}
	var js strings.Builder
	if err := plan.WriteJSON(&js, p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"line": 3,`) || !strings.Contains(js.String(), `"summary": "Unsupported attribute"`) {
		t.Errorf("JSON without the diagnostic:\n%s", js.String())
	}
}
