package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// runIDs returns n run ids, oldest first, in NewRunID's format.
func runIDs(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("20251207T1201%02d-a1b2c3", i))
	}
	return out
}

// made is when the last directory mkdirs made was modified: each one
// after the one before, as runs on a host follow one another.
var made = time.Now().Add(-24 * time.Hour)

// mkdirs creates dirs under root, each holding a backup file, in order.
func mkdirs(t *testing.T, root string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(root, n, "1"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, n, "1", "backup"), []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		made = made.Add(time.Second)
		if err := os.Chtimes(filepath.Join(root, n), made, made); err != nil {
			t.Fatal(err)
		}
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func prune(t *testing.T, root, current string, keep int) string {
	t.Helper()
	res, err := (&transporttest.Local{}).Run(context.Background(), pruneScript(root, current, keep))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("prune: %v, exit %d: %s", err, res.ExitCode, res.Stderr)
	}
	return string(res.Stdout)
}

func TestPruneKeepsTheNewestRunsAndTheCurrentOne(t *testing.T) {
	root := filepath.Join(t.TempDir(), "runs")
	ids := runIDs(6)
	// The current run has the oldest id (its operator's clock is behind):
	// it is kept all the same, and counts as one of keep.
	current := ids[0]
	mkdirs(t, root, ids...)
	mkdirs(t, root, "not-a-run")
	if err := os.WriteFile(filepath.Join(root, "20251207T000000-000000"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A symlink named like the oldest run, to a directory elsewhere: neither
	// followed nor removed.
	elsewhere := t.TempDir()
	mkdirs(t, elsewhere, "kept")
	if err := os.Symlink(elsewhere, filepath.Join(root, "20251101T000000-ffffff")); err != nil {
		t.Fatal(err)
	}

	if out := prune(t, root, current, 3); out != "" {
		t.Errorf("prune printed %q", out)
	}
	want := []string{"20251101T000000-ffffff", "20251207T000000-000000", ids[0], ids[4], ids[5], "not-a-run"}
	if got := names(t, root); !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(elsewhere, "kept", "1", "backup")); err != nil || string(b) != "secret" {
		t.Errorf("the symlink's target was touched: %q %v", b, err)
	}

	// keep = 1: the current run alone.
	prune(t, root, ids[5], 1)
	want = []string{"20251101T000000-ffffff", "20251207T000000-000000", ids[5], "not-a-run"}
	if got := names(t, root); !slices.Equal(got, want) {
		t.Errorf("keep=1: left %v, want %v", got, want)
	}
	// Fewer runs than keep: nothing to do.
	prune(t, root, ids[5], 10)
	if got := names(t, root); !slices.Equal(got, want) {
		t.Errorf("keep=10: left %v, want %v", got, want)
	}
}

func TestPruneLeavesASymlinkedRunsDirectory(t *testing.T) {
	ids := runIDs(4)
	real := t.TempDir()
	mkdirs(t, filepath.Join(real, "runs"), ids...)
	base := t.TempDir()
	// The runs directory itself a symlink, and its parent one.
	os.Symlink(filepath.Join(real, "runs"), filepath.Join(base, "runs"))
	os.Symlink(real, filepath.Join(base, "skiff"))
	for _, root := range []string{filepath.Join(base, "runs"), filepath.Join(base, "skiff", "runs")} {
		out := prune(t, root, ids[3], 1)
		if !strings.HasPrefix(out, root+" is not a directory of its own") {
			t.Errorf("%s: printed %q", root, out)
		}
		if got := names(t, filepath.Join(real, "runs")); !slices.Equal(got, ids) {
			t.Errorf("%s: left %v", root, got)
		}
	}
}

func TestApplyPrunesOlderRunsOnTheHost(t *testing.T) {
	f := newFixture(t, `task "rtouch" "a" { path = "DIR/${host.name}-a" }`, "")
	t.Chdir(f.dir)
	os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755)
	hostRuns := filepath.Join(t.TempDir(), "runs")
	f.eng.HostRuns = hostRuns
	f.eng.Hosts = f.eng.Inventory.Hosts[:1]
	f.eng.Inventory.Host("a").Conn.KeepRuns = 2
	var warnings []string
	f.eng.Warn = func(format string, args ...any) { warnings = append(warnings, format) }
	ids := runIDs(3)
	for _, id := range ids {
		os.Remove(filepath.Join(f.dir, "DIR", "a-a")) // so that every run changes the host
		w, err := journal.Create(filepath.Join(f.dir, "runs"), journal.Run{ID: id, Command: "apply"})
		if err != nil {
			t.Fatal(err)
		}
		f.ch.Journal, f.eng.RunID = w, id
		p := f.eng.Apply(context.Background(), f.ch)
		w.Close()
		if p.Failed() || p.Summary.Changed != 1 {
			t.Fatalf("run %s: %+v", id, p.Hosts[0])
		}
	}
	if got := names(t, hostRuns); !slices.Equal(got, ids[1:]) {
		t.Errorf("the host keeps %v, want the last 2 runs %v", got, ids[1:])
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %v", warnings)
	}
}

// Runs named in the same second, or by operators whose clocks differ, are
// ordered by when the host saw them: the directories' modification times.
func TestPruneOrdersRunsByTheHostsClock(t *testing.T) {
	root := filepath.Join(t.TempDir(), "runs")
	// Oldest on the host first; the names sort the other way.
	byTime := []string{"20251207T120100-ffffff", "20251207T120100-aaaaaa", "20251207T110000-000001"}
	mkdirs(t, root, byTime...)
	base := time.Now().Add(-time.Hour)
	for i, n := range byTime {
		at := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(filepath.Join(root, n), at, at); err != nil {
			t.Fatal(err)
		}
	}
	current := "20251207T100000-cccccc"
	mkdirs(t, root, current)
	prune(t, root, current, 3)
	if got, want := names(t, root), []string{"20251207T100000-cccccc", "20251207T110000-000001", "20251207T120100-aaaaaa"}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}
