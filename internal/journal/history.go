package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
)

// States of a run's rollback (RolledBack).
const (
	RolledBackNo     = "no"
	RolledBackPartly = "partly"
	RolledBackYes    = "yes"
)

// Undoable returns host's entries that a rollback can still undo: not yet
// rolled back, and saying how; newest first.
func (j *Journal) Undoable(host string) []Entry {
	var out []Entry
	for _, e := range j.Pending(host) {
		if e.Reversible() {
			out = append(out, e)
		}
	}
	return out
}

// RolledBack says how much of the run's reversible changes were rolled
// back (automatically or by skiff rollback): no, partly or yes. A run with
// no reversible change is "no".
func (j *Journal) RolledBack() string {
	var total, undone int
	for _, e := range j.Entries {
		if !e.Reversible() {
			continue
		}
		total++
		if j.Undone[e.Host][e.Seq] {
			undone++
		}
	}
	switch {
	case undone == 0:
		return RolledBackNo
	case undone < total:
		return RolledBackPartly
	}
	return RolledBackYes
}

// List reads every journal in dir, newest first by the time each run
// started (to the nanosecond: run ids name only the second), then by id.
// Files that are not journals are left out; a missing dir is no run at all.
func List(dir string) ([]*Journal, error) {
	files, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journals: %w", err)
	}
	var ids []string
	for _, f := range files {
		if id, ok := strings.CutSuffix(f.Name(), ".jsonl"); ok && f.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	var out []*Journal
	for _, id := range ids {
		if j, err := Read(dir, id); err == nil {
			out = append(out, j)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Run.Started.After(out[b].Run.Started) })
	return out, nil
}

// LatestUndoable returns the newest apply in dir that left a change a
// rollback can undo on a host that selected accepts, and the newer applies
// it passed over (they changed nothing there, or were rolled back there
// already). It returns a nil journal when no apply has anything left to undo.
func LatestUndoable(dir string, selected func(host string) bool) (*Journal, []*Journal, error) {
	runs, err := List(dir)
	if err != nil {
		return nil, nil, err
	}
	var passed []*Journal
	for _, j := range runs {
		if j.Run.Command != "apply" {
			continue
		}
		for _, h := range j.Hosts() {
			if selected(h) && len(j.Undoable(h)) > 0 {
				return j, passed, nil
			}
		}
		passed = append(passed, j)
	}
	return nil, passed, nil
}
