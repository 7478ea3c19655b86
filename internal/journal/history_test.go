package journal

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// writeRun records a run started at minute min, with entries (host and
// whether it says how to undo it) and, when failed is not nil, its outcome.
func writeRun(t *testing.T, dir, id, command string, min int, entries []Entry, failed []string) {
	t.Helper()
	w, err := Create(dir, Run{ID: id, Command: command, Owner: "alice@laptop", Version: "v1.2.3",
		Started: time.Date(2025, 12, 7, 12, min, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, e := range entries {
		e.Seq = w.NextSeq()
		if err := w.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if failed != nil {
		if err := w.End(Outcome{Ended: time.Date(2025, 12, 7, 12, min+1, 0, 0, time.UTC), Failed: failed}); err != nil {
			t.Fatal(err)
		}
	}
}

func reversible(host string) Entry {
	return Entry{Host: host, Task: "file.conf", Undo: "mv backup conf"}
}
func irreversible(host string) Entry { return Entry{Host: host, Task: "command.migrate"} }

func ids(js []*Journal) []string {
	var out []string
	for _, j := range js {
		out = append(out, j.Run.ID)
	}
	return out
}

func everyHost(string) bool { return true }

func TestLatestUndoablePassesOverRunsWithNothingToUndo(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, "20251207T120100-aaaaaa", "apply", 1, []Entry{reversible("web1"), reversible("web2")}, []string{})
	writeRun(t, dir, "20251207T120200-bbbbbb", "apply", 2, []Entry{reversible("web1")}, []string{})
	writeRun(t, dir, "20251207T120300-cccccc", "apply", 3, nil, []string{})                           // changed nothing
	writeRun(t, dir, "20251207T120400-dddddd", "apply", 4, []Entry{irreversible("web1")}, []string{}) // nothing undoable

	j, passed, err := LatestUndoable(dir, everyHost)
	if err != nil || j == nil || j.Run.ID != "20251207T120200-bbbbbb" {
		t.Fatalf("picked %v (%v), want the newest run that changed something undoable", j, err)
	}
	if got := ids(passed); !slices.Equal(got, []string{"20251207T120400-dddddd", "20251207T120300-cccccc"}) {
		t.Errorf("passed over %v", got)
	}

	// Once rolled back, it is passed over too.
	w, err := Append(dir, "20251207T120200-bbbbbb")
	if err != nil {
		t.Fatal(err)
	}
	w.MarkUndone(Undone{Host: "web1", Seqs: []int{1}, By: "20251207T120500-eeeeee"})
	w.Close()
	if j, passed, _ = LatestUndoable(dir, everyHost); j == nil || j.Run.ID != "20251207T120100-aaaaaa" || len(passed) != 3 {
		t.Fatalf("after the rollback: picked %v, passed over %v", j, ids(passed))
	}

	// Only the selected hosts count: web2 alone was changed by the oldest run.
	web2 := func(h string) bool { return h == "web2" }
	if j, _, _ = LatestUndoable(dir, web2); j == nil || j.Run.ID != "20251207T120100-aaaaaa" {
		t.Fatalf("--limit web2: picked %v", j)
	}
	w, _ = Append(dir, "20251207T120100-aaaaaa")
	w.MarkUndone(Undone{Host: "web2", Seqs: []int{2}, By: "automatic"})
	w.Close()
	if j, passed, err = LatestUndoable(dir, web2); j != nil || err != nil || len(passed) != 4 {
		t.Fatalf("nothing left on web2: picked %v (%v), passed over %v", j, err, ids(passed))
	}
	if j, _, _ = LatestUndoable(dir, everyHost); j == nil || j.Run.ID != "20251207T120100-aaaaaa" {
		t.Fatalf("web1 of the oldest run is still to undo: picked %v", j)
	}
}

func TestLatestUndoableTakesAppliesOnly(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, "20251207T120100-aaaaaa", "apply", 1, []Entry{reversible("web1")}, []string{})
	writeRun(t, dir, "20251207T120200-bbbbbb", "rollback", 2, []Entry{reversible("web1")}, []string{})
	if j, _, _ := LatestUndoable(dir, everyHost); j == nil || j.Run.ID != "20251207T120100-aaaaaa" {
		t.Fatalf("picked %v", j)
	}
	if j, passed, err := LatestUndoable(filepath.Join(dir, "missing"), everyHost); j != nil || passed != nil || err != nil {
		t.Fatalf("no journals: %v %v %v", j, passed, err)
	}
}

func TestRolledBack(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, "20251207T120100-aaaaaa", "apply", 1, []Entry{reversible("web1"), irreversible("web1"), reversible("web2")}, nil)
	read := func() *Journal {
		j, err := Read(dir, "20251207T120100-aaaaaa")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	if got := read().RolledBack(); got != RolledBackNo {
		t.Errorf("before any rollback: %q", got)
	}
	w, _ := Append(dir, "20251207T120100-aaaaaa")
	defer w.Close()
	w.MarkUndone(Undone{Host: "web2", Seqs: []int{3}, By: "automatic"})
	if got := read().RolledBack(); got != RolledBackPartly {
		t.Errorf("web2 rolled back: %q", got)
	}
	// The command cannot be undone: it does not keep the run from being rolled back.
	w.MarkUndone(Undone{Host: "web1", Seqs: []int{1}, By: "20251207T120500-eeeeee"})
	j := read()
	if got := j.RolledBack(); got != RolledBackYes {
		t.Errorf("every reversible change undone: %q", got)
	}
	if !slices.Equal(j.UndoneBy, []string{"automatic", "20251207T120500-eeeeee"}) {
		t.Errorf("undone by %v", j.UndoneBy)
	}
	if j.Outcome != nil {
		t.Errorf("a run that recorded no end has outcome %+v", j.Outcome)
	}
}

func TestListReadsVersionAndOutcome(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, "20251207T120100-aaaaaa", "apply", 1, []Entry{reversible("web1")}, []string{"web2"})
	// A journal of an older skiff: no version, no outcome.
	old := `{"run":{"id":"20251101T090000-ffffff","command":"apply","owner":"bob@ci","inventory":"/x/inv.hcl","started":"2025-11-01T09:00:00Z"}}
{"entry":{"seq":1,"host":"web1","play":"p","role":"r","task":"file.a","summary":"update","undo":"true","time":"2025-11-01T09:00:01Z"}}
`
	if err := os.WriteFile(filepath.Join(dir, "20251101T090000-ffffff.jsonl"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a journal"), 0o600)
	os.WriteFile(filepath.Join(dir, "zzz.jsonl"), []byte("not a journal either\n"), 0o600)

	runs, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(runs); !slices.Equal(got, []string{"20251207T120100-aaaaaa", "20251101T090000-ffffff"}) {
		t.Fatalf("listed %v, want the two journals newest first", got)
	}
	if r := runs[0]; r.Run.Version != "v1.2.3" || r.Outcome == nil || !slices.Equal(r.Outcome.Failed, []string{"web2"}) || r.Outcome.Ended.Minute() != 2 {
		t.Errorf("new journal: %+v, outcome %+v", r.Run, r.Outcome)
	}
	if r := runs[1]; r.Run.Version != "" || r.Outcome != nil || len(r.Entries) != 1 {
		t.Errorf("old journal: %+v, outcome %+v", r.Run, r.Outcome)
	}
	if runs, err := List(filepath.Join(dir, "missing")); err != nil || runs != nil {
		t.Errorf("missing dir: %v %v", runs, err)
	}
}

// Run ids name the second a run started: runs of the same second are
// ordered by their start to the nanosecond, not by their ids' random part.
func TestListOrdersRunsOfTheSameSecondByTheirStart(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2025, 12, 7, 12, 0, 0, 0, time.UTC)
	for i, id := range []string{"20251207T120000-ffffff", "20251207T120000-000000", "20251207T120000-aaaaaa"} {
		w, err := Create(dir, Run{ID: id, Command: "apply", Started: at.Add(time.Duration(i) * time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	js, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(js), []string{"20251207T120000-aaaaaa", "20251207T120000-000000", "20251207T120000-ffffff"}; !slices.Equal(got, want) {
		t.Fatalf("newest first: %v, want %v", got, want)
	}
}
