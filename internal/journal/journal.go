// Package journal records, per run, every change applied on every host and
// how to undo it, so that a failed play can be rolled back at once and a
// whole run days later (`skiff rollback`). A run's journal is a JSON-lines
// file in .skiff/runs/ beside the inventory; each record is appended (and
// synced) before the change it describes is made, so even a killed skiff
// leaves a journal that covers everything it touched.
package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// Run describes a run; it is the journal's first record.
type Run struct {
	ID        string    `json:"id"`
	Command   string    `json:"command"` // apply, rollback
	Owner     string    `json:"owner"`
	Inventory string    `json:"inventory"`
	Playbook  string    `json:"playbook,omitempty"`
	Started   time.Time `json:"started"`
	// Version is the skiff that ran it (package version); journals of
	// older skiffs have none.
	Version string `json:"version,omitempty"`
	// Of is the run a rollback undid.
	Of string `json:"of,omitempty"`
}

// Outcome is how a run ended; it is the journal's last record. A run killed
// before its end has none.
type Outcome struct {
	Ended time.Time `json:"ended"`
	// Failed are the hosts that failed or could not be reached.
	Failed []string `json:"failed"`
}

// Entry is one change on one host. Undo and After are sh fragments (never
// holding secrets); both empty means the change cannot be undone.
type Entry struct {
	Seq     int       `json:"seq"`
	Host    string    `json:"host"`
	Play    string    `json:"play"`
	Role    string    `json:"role"`
	Task    string    `json:"task"`
	Summary string    `json:"summary"`
	Undo    string    `json:"undo,omitempty"`
	After   string    `json:"after,omitempty"`
	Time    time.Time `json:"time"`
}

// Reversible reports whether the entry says how to undo its change.
func (e Entry) Reversible() bool { return e.Undo != "" || e.After != "" }

// record is one line of a journal file.
type record struct {
	Run        *Run     `json:"run,omitempty"`
	Entry      *Entry   `json:"entry,omitempty"`
	RolledBack *Undone  `json:"rolled_back,omitempty"`
	Outcome    *Outcome `json:"outcome,omitempty"`
}

// Undone marks a host's entries (Seq <= UpTo… all of a play's) as rolled back.
type Undone struct {
	Host string `json:"host"`
	Seqs []int  `json:"seqs"`
	By   string `json:"by"` // "automatic" or the id of a rollback run
}

// Writer appends to one run's journal; safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	seq  int
	Path string
}

// Create starts the journal of run in dir (created 0700).
func Create(dir string, run Run) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	p := filepath.Join(dir, run.ID+".jsonl")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	w := &Writer{f: f, Path: p}
	if err := w.write(record{Run: &run}); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// NextSeq reserves the sequence number of the next entry.
func (w *Writer) NextSeq() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	return w.seq
}

// Append records e (its Seq from NextSeq) and syncs it to disk.
func (w *Writer) Append(e Entry) error { return w.write(record{Entry: &e}) }

// MarkUndone records that seqs of host were rolled back.
func (w *Writer) MarkUndone(u Undone) error { return w.write(record{RolledBack: &u}) }

// End records how the run ended.
func (w *Writer) End(o Outcome) error { return w.write(record{Outcome: &o}) }

func (w *Writer) write(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", w.Path, err)
	}
	return w.f.Sync()
}

// Close closes the file.
// Close closes the journal file. Every record was synced as it was written,
// so a failing close loses nothing: callers may ignore its error.
func (w *Writer) Close() error { return w.f.Close() }

// Journal is a run's journal as read back.
type Journal struct {
	Run     Run
	Entries []Entry
	// Undone maps host → seq → true for entries already rolled back.
	Undone map[string]map[int]bool
	// UndoneBy lists who rolled entries back ("automatic", or the ids of
	// rollback runs), in the order they did.
	UndoneBy []string
	// Outcome is nil when the run did not record its end.
	Outcome *Outcome
}

// Pending returns host's entries not yet rolled back, newest first: the
// order a rollback undoes them in.
func (j *Journal) Pending(host string) []Entry {
	var out []Entry
	for _, e := range j.Entries {
		if e.Host == host && !j.Undone[host][e.Seq] {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Seq > out[b].Seq })
	return out
}

// Hosts lists the hosts with entries, in first-change order.
func (j *Journal) Hosts() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range j.Entries {
		if !seen[e.Host] {
			seen[e.Host] = true
			out = append(out, e.Host)
		}
	}
	return out
}

// Read loads the journal of run id from dir. A torn last line (a killed
// skiff) is ignored.
func Read(dir, id string) (*Journal, error) {
	p := filepath.Join(dir, id+".jsonl")
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no journal for run %q in %s", id, dir)
		}
		return nil, err
	}
	defer f.Close()
	j := &Journal{Undone: map[string]map[int]bool{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	first := true
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		switch {
		case r.Run != nil && first:
			j.Run = *r.Run
		case r.Entry != nil:
			j.Entries = append(j.Entries, *r.Entry)
		case r.RolledBack != nil:
			u := r.RolledBack
			if j.Undone[u.Host] == nil {
				j.Undone[u.Host] = map[int]bool{}
			}
			for _, s := range u.Seqs {
				j.Undone[u.Host][s] = true
			}
			if !slices.Contains(j.UndoneBy, u.By) {
				j.UndoneBy = append(j.UndoneBy, u.By)
			}
		case r.Outcome != nil:
			j.Outcome = r.Outcome
		}
		first = false
	}
	if j.Run.ID == "" {
		return nil, fmt.Errorf("%s is not a skiff journal", p)
	}
	return j, sc.Err()
}

// Append opens the existing journal of run id for more records (a rollback
// marking entries undone).
func Append(dir, id string) (*Writer, error) {
	p := filepath.Join(dir, id+".jsonl")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Writer{f: f, Path: p}, nil
}
