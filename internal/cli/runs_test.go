package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// siteWithRuns writes an inventory of web1 and web2 and, beside it, the
// journals of three applies: one that changed web1 and web2 and failed on
// web2 (rolled back there), one that changed nothing, and one recorded by
// an older skiff (no version, no outcome). It returns the inventory's path.
func siteWithRuns(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	inv := filepath.Join(dir, "inv.hcl")
	if err := os.WriteFile(inv, []byte("host \"web1\" { address = \"127.0.0.1\" }\nhost \"web2\" { address = \"127.0.0.1\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, ".skiff", "runs")
	start := time.Date(2025, 12, 7, 12, 45, 1, 0, time.UTC)
	w, err := journal.Create(runs, journal.Run{ID: "20251207T124501-ab12cd", Command: "apply", Owner: "alice@laptop", Started: start, Version: "devel+1a2b3c4d5e6f"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"web1", "web2"} {
		w.Append(journal.Entry{Seq: w.NextSeq(), Host: h, Task: "file.conf", Undo: "true"})
	}
	w.MarkUndone(journal.Undone{Host: "web2", Seqs: []int{2}, By: "automatic"})
	w.End(journal.Outcome{Ended: start.Add(time.Minute), Failed: []string{"web2"}})
	w.Close()
	w, _ = journal.Create(runs, journal.Run{ID: "20251207T125000-cd34ef", Command: "apply", Owner: "bob@ci", Started: start.Add(5 * time.Minute), Version: "v1.4.0"})
	w.End(journal.Outcome{Ended: start.Add(6 * time.Minute), Failed: []string{}})
	w.Close()
	old := `{"run":{"id":"20251101T090000-ffffff","command":"apply","owner":"carol@old","inventory":"/x/inv.hcl","started":"2025-11-01T09:00:00Z"}}
{"entry":{"seq":1,"host":"web1","play":"p","role":"r","task":"file.a","summary":"update","undo":"true","time":"2025-11-01T09:00:01Z"}}
`
	if err := os.WriteFile(filepath.Join(runs, "20251101T090000-ffffff.jsonl"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	return inv
}

func skiffMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunsListsPastRuns(t *testing.T) {
	inv := siteWithRuns(t)
	code, out, errs := skiffMain(t, "runs", "-i", inv, "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Runs []struct {
			ID           string     `json:"id"`
			Command      string     `json:"command"`
			Started      time.Time  `json:"started"`
			Ended        *time.Time `json:"ended"`
			Operator     string     `json:"operator"`
			SkiffVersion string     `json:"skiff_version"`
			HostsChanged []string   `json:"hosts_changed"`
			HostsFailed  []string   `json:"hosts_failed"`
			RolledBack   string     `json:"rolled_back"`
			RolledBackBy []string   `json:"rolled_back_by"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if len(doc.Runs) != 3 {
		t.Fatalf("%d runs, want 3:\n%s", len(doc.Runs), out)
	}
	noop, failed, old := doc.Runs[0], doc.Runs[1], doc.Runs[2]
	if noop.ID != "20251207T125000-cd34ef" || noop.Operator != "bob@ci" || noop.SkiffVersion != "v1.4.0" ||
		len(noop.HostsChanged) != 0 || noop.HostsFailed == nil || len(noop.HostsFailed) != 0 || noop.RolledBack != "no" || noop.Ended == nil {
		t.Errorf("the run that changed nothing: %+v", noop)
	}
	if failed.ID != "20251207T124501-ab12cd" || failed.Command != "apply" || !failed.Started.Equal(time.Date(2025, 12, 7, 12, 45, 1, 0, time.UTC)) ||
		failed.Operator != "alice@laptop" || failed.SkiffVersion != "devel+1a2b3c4d5e6f" ||
		!slices.Equal(failed.HostsChanged, []string{"web1", "web2"}) || !slices.Equal(failed.HostsFailed, []string{"web2"}) ||
		failed.RolledBack != "partly" || !slices.Equal(failed.RolledBackBy, []string{"automatic"}) {
		t.Errorf("the run that failed on web2: %+v", failed)
	}
	if old.ID != "20251101T090000-ffffff" || old.SkiffVersion != "unknown" || old.Ended != nil || old.HostsFailed != nil ||
		!slices.Equal(old.HostsChanged, []string{"web1"}) || old.RolledBack != "no" {
		t.Errorf("the run of an older skiff: %+v", old)
	}
	if !strings.Contains(out, `"hosts_failed": null`) || !strings.Contains(out, `"rolled_back_by": []`) {
		t.Errorf("unknown failures are null, no rollback an empty list:\n%s", out)
	}

	code, out, _ = skiffMain(t, "runs", "-i", inv)
	want := regexp.MustCompile(`^RUN +STARTED \(UTC\) +OPERATOR +VERSION +CHANGED +FAILED +ROLLED BACK
20251207T125000-cd34ef +2025-12-07 12:50:01 +bob@ci +v1\.4\.0 +0 +0 +-
20251207T124501-ab12cd +2025-12-07 12:45:01 +alice@laptop +devel\+1a2b3c4d5e6f +2 +1 +partly
20251101T090000-ffffff +2025-11-01 09:00:00 +carol@old +unknown +1 +\? +no
$`)
	if code != 0 || !want.MatchString(out) {
		t.Errorf("exit %d, text:\n%s", code, out)
	}
}

func TestRunsWithoutJournals(t *testing.T) {
	inv := writeInventory(t)
	if code, out, errs := skiffMain(t, "runs", "-i", inv, "-o", "json"); code != 0 || strings.TrimSpace(out) != `{
  "format_version": 1,
  "runs": []
}` {
		t.Errorf("exit %d, %q, %s", code, out, errs)
	}
	if code, out, errs := skiffMain(t, "runs", "-i", inv); code != 0 || out != "" || !strings.Contains(errs, "No runs recorded in") {
		t.Errorf("exit %d, %q, %q", code, out, errs)
	}
	if code, _, errs := skiffMain(t, "runs"); code != 1 || !strings.Contains(errs, "no inventory") {
		t.Errorf("without -i: exit %d, %q", code, errs)
	}
}

func TestRollbackSaysWhichRunItPicked(t *testing.T) {
	inv := siteWithRuns(t)
	runs, err := journal.List(filepath.Join(filepath.Dir(inv), ".skiff", "runs"))
	if err != nil {
		t.Fatal(err)
	}
	j, passed, err := journal.LatestUndoable(filepath.Join(filepath.Dir(inv), ".skiff", "runs"), func(string) bool { return true })
	if err != nil || j == nil || j.Run.ID != "20251207T124501-ab12cd" || len(passed) != 1 || passed[0].Run.ID != runs[0].Run.ID {
		t.Fatalf("picked %v, passed over %v (%v)", j, passed, err)
	}
	want := "No --run given: rolling back run 20251207T124501-ab12cd, started 2025-12-07 12:45:01 UTC, the newest apply with changes left to undo (the newer run 20251207T125000-cd34ef has none)."
	if got := pickedRun(j, passed); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := pickedRun(j, append(passed, runs[2])); !strings.HasSuffix(got, "(2 newer runs have none, the newest 20251207T125000-cd34ef).") {
		t.Errorf("two passed over: %q", got)
	}
}

func TestRollbackWithNothingLeftToUndo(t *testing.T) {
	inv := siteWithRuns(t)
	// web2's change was rolled back automatically; the no-op run changed
	// nothing: with --limit web2 nothing is left, and no host is reached.
	code, out, errs := skiffMain(t, "rollback", "-i", inv, "--limit", "web2", "--yes", "-o", "json")
	if code != 0 || !strings.Contains(errs, "Nothing to roll back: no apply recorded in") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Mode != "rollback" || len(p.Hosts) != 0 {
		t.Errorf("json %v: %s", err, out)
	}
}

// A run whose changes left on a host cannot be undone (a command without
// undo) has nothing to roll back there: rollback reaches no host.
func TestRollbackLeavesWhatCannotBeUndone(t *testing.T) {
	inv := siteWithRuns(t)
	runs := filepath.Join(filepath.Dir(inv), ".skiff", "runs")
	const id = "20251207T130000-ef56ab"
	w, err := journal.Create(runs, journal.Run{ID: id, Command: "apply", Owner: "alice@laptop", Started: time.Date(2025, 12, 7, 13, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	w.Append(journal.Entry{Seq: 1, Host: "web1", Task: "file.conf", Undo: "true"})
	w.Append(journal.Entry{Seq: 2, Host: "web1", Task: "command.migrate"})
	w.MarkUndone(journal.Undone{Host: "web1", Seqs: []int{1}, By: "20251207T130500-aaaaaa"})
	w.Close()
	code, out, errs := skiffMain(t, "rollback", "-i", inv, "--run", id, "--yes", "-o", "json")
	if code != 0 || !strings.Contains(errs, "Nothing to roll back") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Mode != "rollback" || len(p.Hosts) != 0 {
		t.Errorf("json %v: %s", err, out)
	}
}

func TestApplyOutcomeNamesFailedAndRefusedHosts(t *testing.T) {
	p := &plan.Plan{Hosts: []*plan.Host{
		{Name: "web1", Status: plan.StatusChanged}, {Name: "web2", Status: plan.StatusFailed},
		{Name: "db1", Status: plan.StatusUnreachable}, {Name: "db2", Status: plan.StatusOK},
	}}
	o := outcome(p, []string{"lb1", "web2"})
	if !slices.Equal(o.Failed, []string{"web2", "db1", "lb1"}) || o.Ended.IsZero() {
		t.Errorf("outcome %+v", o)
	}
	if o := outcome(&plan.Plan{}, nil); o.Failed == nil {
		t.Errorf("no failure must be an empty list, not unknown")
	}
}
