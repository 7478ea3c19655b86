package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// Rollback undoes an earlier run's pending changes host by host through
// the run's own connections, with the locks held: a host it cannot reach,
// or whose backups are gone, fails alone; the journal records what was
// undone, so that nothing is undone twice.
func TestRollbackUndoesTheRunsChanges(t *testing.T) {
	dir := t.TempDir()
	const of = "20260102T120000-abcdef"
	kept := filepath.Join(dir, "web1-runs")
	if err := os.MkdirAll(filepath.Join(kept, of), 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "web1-file")
	if err := os.WriteFile(target, []byte("changed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := journal.Create(filepath.Join(dir, "runs"), journal.Run{ID: of, Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	entry := func(seq int, host, task, undo string) journal.Entry {
		e := journal.Entry{Seq: seq, Host: host, Play: "site", Role: "web", Task: task, Summary: task + " changed", Undo: undo}
		if err := w.Append(e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	pending := map[string][]journal.Entry{
		"web1": {entry(2, "web1", "file.b", "echo b >>"+target), entry(1, "web1", "file.a", "echo a >>"+target)},
		"web2": {entry(3, "web2", "file.a", "true")},
		"web3": {entry(4, "web3", "file.a", "true")},
	}
	hosts := []*inventory.Host{{Name: "web1", Groups: []string{"all"}}, {Name: "web2", Groups: []string{"all"}}, {Name: "web3", Groups: []string{"all"}}}
	for _, h := range hosts {
		h.Conn.KeepRuns = 10
	}
	inv := &inventory.Inventory{Hosts: hosts}
	e := &Engine{
		Inventory: inv, Hosts: hosts, Scope: NewScope(inv, nil, nil, nil), RunID: "20260102T130000-rollbk", Forks: 2,
		Dial: func(_ context.Context, h *inventory.Host) (transport.Transport, error) {
			switch h.Name {
			case "web2":
				return nil, &transport.UnreachableError{Host: h.Name, Err: errors.New("connection refused")}
			case "web3": // its backups were pruned
				return movedRuns{&transporttest.Local{}, filepath.Join(dir, "web3-runs")}, nil
			}
			return movedRuns{&transporttest.Local{}, kept}, nil
		},
	}
	locks := &fileLocks{dir: dir, confirmed: map[string]error{}}
	p := e.Rollback(context.Background(), RollbackChanges{Of: of, Pending: pending, Journal: w, Locks: locks})

	if p.Mode != "rollback" || p.RunID != e.RunID || len(p.Hosts) != 3 {
		t.Fatalf("result: %+v", p)
	}
	if h := hostOf(p, "web1"); h.Status != plan.StatusChanged || len(h.Changes) != 2 || h.Changes[0].Action != plan.Undo || h.Changes[0].Summary != "file.b changed" {
		t.Errorf("web1: %+v", h)
	}
	if b, _ := os.ReadFile(target); string(b) != "changed\nb\na\n" {
		t.Errorf("web1's undos ran as %q, want the newest first", b)
	}
	if h := hostOf(p, "web2"); h.Status != plan.StatusUnreachable || !strings.Contains(h.Error, "connection refused") {
		t.Errorf("web2: %+v", h)
	}
	if h := hostOf(p, "web3"); h.Status != plan.StatusFailed || len(h.Changes) != 0 ||
		!strings.Contains(h.Error, "run "+of+" can no longer be rolled back on web3") || !strings.Contains(h.Error, "keep_runs") {
		t.Errorf("web3: %+v", h)
	}
	w.Close()
	j, err := journal.Read(filepath.Join(dir, "runs"), of)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(j.Pending("web1")); n != 0 {
		t.Errorf("web1 still has %d change(s) to undo", n)
	}
	if n := len(j.Pending("web3")); n != 1 {
		t.Errorf("web3 has %d change(s) to undo, want its 1", n)
	}
}

// A rollback that lost a deploy lock undoes nothing more.
func TestRollbackStopsOnALostLock(t *testing.T) {
	dir := t.TempDir()
	const of = "20260102T120000-abcdef"
	if err := os.MkdirAll(filepath.Join(dir, of), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := journal.Create(filepath.Join(dir, "runs"), journal.Run{ID: of, Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	marker := filepath.Join(dir, "undone")
	hosts := []*inventory.Host{{Name: "web1", Groups: []string{"all"}}}
	inv := &inventory.Inventory{Hosts: hosts}
	e := &Engine{Inventory: inv, Hosts: hosts, Scope: NewScope(inv, nil, nil, nil), RunID: "r",
		Dial: func(context.Context, *inventory.Host) (transport.Transport, error) {
			return movedRuns{&transporttest.Local{}, dir}, nil
		}}
	if err := os.WriteFile(filepath.Join(dir, "noticed-web9"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := e.Rollback(context.Background(), RollbackChanges{Of: of, Journal: w,
		Pending: map[string][]journal.Entry{"web1": {{Seq: 1, Host: "web1", Role: "web", Task: "file.a", Undo: "touch " + marker}}},
		Locks:   &fileLocks{dir: dir, confirmed: map[string]error{}}})
	if h := hostOf(p, "web1"); h.Status != plan.StatusFailed || !strings.Contains(h.Error, "lost a deploy lock") {
		t.Errorf("web1: %+v", h)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the undo ran after the run lost a lock")
	}
}

// A change that cannot be undone (a command without undo) is listed, its
// summary saying it is left as it is, and does not fail the host: the
// rollback undid everything it could.
func TestRollbackListsWhatCannotBeUndoneWithoutFailing(t *testing.T) {
	dir := t.TempDir()
	const of = "20260102T120000-abcdef"
	if err := os.MkdirAll(filepath.Join(dir, of), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := journal.Create(filepath.Join(dir, "runs"), journal.Run{ID: of, Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	target := filepath.Join(dir, "file")
	pending := []journal.Entry{
		{Seq: 3, Host: "web1", Role: "web", Task: "file.b", Summary: "update b", Undo: "echo b >>" + target},
		{Seq: 2, Host: "web1", Role: "web", Task: "command.migrate", Summary: "migrate"},
		{Seq: 1, Host: "web1", Role: "web", Task: "file.a", Summary: "update a", Undo: "echo a >>" + target},
	}
	for i := len(pending) - 1; i >= 0; i-- {
		if err := w.Append(pending[i]); err != nil {
			t.Fatal(err)
		}
	}
	hosts := []*inventory.Host{{Name: "web1", Groups: []string{"all"}}}
	inv := &inventory.Inventory{Hosts: hosts}
	e := &Engine{Inventory: inv, Hosts: hosts, Scope: NewScope(inv, nil, nil, nil), RunID: "20260102T130000-rollbk",
		Dial: func(context.Context, *inventory.Host) (transport.Transport, error) {
			return movedRuns{&transporttest.Local{}, dir}, nil
		}}
	p := e.Rollback(context.Background(), RollbackChanges{Of: of, Journal: w,
		Pending: map[string][]journal.Entry{"web1": pending},
		Locks:   &fileLocks{dir: dir, confirmed: map[string]error{}}})

	h := hostOf(p, "web1")
	var got []string
	for _, c := range h.Changes {
		got = append(got, c.Task+": "+c.Summary)
	}
	want := []string{"file.b: update b", "command.migrate: migrate (cannot be undone: left as is)", "file.a: update a"}
	if h.Status != plan.StatusChanged || h.Error != "" || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("web1: %s %q\n%s\nwant\n%s", h.Status, h.Error, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if b, _ := os.ReadFile(target); string(b) != "b\na\n" {
		t.Errorf("the undos ran as %q", b)
	}
}
