package collector

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// fileID names a file independently of its path, so that a log renamed by
// rotation is still recognized (and drained) under its new name.
type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) (fileID, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, fmt.Errorf("%s: no inode information", fi.Name())
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// tailed is one file being followed. It stays open on its inode, so lines
// written to it after a rename (the writer reopens its log only later) are
// still read. off only advances once lines are delivered.
type tailed struct {
	path      string // where it was last seen
	f         *os.File
	id        fileID
	off       int64     // bytes delivered
	retiredAt time.Time // zero while the path expression still names it
}

// source is a LocalFile source and the files it follows, oldest first.
type source struct {
	Source
	files []*tailed
	// fresh: the daemon never saw this source before; files present at its
	// first scan are followed from their end, as the real collector does.
	fresh bool
}

// paths expands the source's path expression: a glob if it has glob
// characters, else the path itself (which may not exist yet).
func (s *source) paths() []string {
	if !strings.ContainsAny(s.PathExpression, "*?[") {
		return []string{s.PathExpression}
	}
	m, _ := filepath.Glob(s.PathExpression) // only a malformed pattern fails: nothing matches
	return m
}

func (s *source) byID(id fileID) *tailed {
	for _, t := range s.files {
		if t.id == id {
			return t
		}
	}
	return nil
}

// refresh matches the files the path expression names now against the
// followed ones: new files are opened (from their end if the source is
// fresh, else from the start), and followed files that are no longer named
// (renamed, deleted) are retired: they are drained, then dropped. It reports
// whether anything changed.
func (s *source) refresh(now time.Time, log *slog.Logger) (changed bool) {
	named := map[fileID]bool{}
	for _, p := range s.paths() {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		id, err := idOf(fi)
		if err != nil {
			continue
		}
		if t := s.byID(id); t != nil {
			named[id] = true
			if t.path != p || !t.retiredAt.IsZero() {
				t.path, t.retiredAt, changed = p, time.Time{}, true
			}
			continue
		}
		t, err := openTailed(p, s.fresh)
		if err != nil {
			log.Warn("cannot follow file", "source", s.Name, "path", p, "err", err)
			continue
		}
		if s.byID(t.id) != nil { // replaced between Stat and Open; next round sees it
			t.f.Close()
			continue
		}
		named[t.id] = true
		s.files = append(s.files, t)
		changed = true
		log.Info("following file", "source", s.Name, "path", p, "offset", t.off)
	}
	for _, t := range s.files {
		if t.retiredAt.IsZero() && !named[t.id] {
			t.retiredAt, changed = now, true
			log.Info("file moved or removed; reading the rest of it", "source", s.Name, "path", t.path)
		}
	}
	s.fresh = false
	return changed
}

func openTailed(path string, atEnd bool) (*tailed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	var id fileID
	if err == nil {
		id, err = idOf(fi)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &tailed{path: path, f: f, id: id}
	if atEnd {
		t.off = fi.Size()
	}
	return t, nil
}

// restore reopens a file recorded in offsets.json: at its path if the inode
// is still there, else among the files beside it (it was rotated while the
// daemon was down). ok is false if the file is gone.
func restore(fo fileOffset) (t *tailed, ok bool) {
	want := fileID{dev: fo.Dev, ino: fo.Ino}
	candidates := []string{fo.Path}
	dir := filepath.Dir(fo.Path)
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if p := filepath.Join(dir, e.Name()); p != fo.Path && e.Type().IsRegular() {
				candidates = append(candidates, p)
			}
		}
	}
	for _, p := range candidates {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if id, err := idOf(fi); err != nil || id != want {
			continue
		}
		t, err := openTailed(p, false)
		if err != nil || t.id != want {
			if t != nil {
				t.f.Close()
			}
			continue
		}
		t.off = fo.Offset
		return t, true
	}
	return nil, false
}

// read returns up to limit bytes of whole lines after off; off is left for
// the caller to advance once they are delivered. final (a retired file past
// its grace period) also returns a last line that has no newline: nothing
// will complete it. A line longer than limit is returned in pieces. If the
// file shrank below off it was truncated in place (copytruncate): reading
// restarts at 0 and truncated is true.
func (t *tailed) read(limit int64, final bool) (data []byte, truncated bool, err error) {
	fi, err := t.f.Stat()
	if err != nil {
		return nil, false, err
	}
	size := fi.Size()
	if size < t.off {
		t.off, truncated = 0, true
	}
	n := min(size-t.off, limit)
	if n <= 0 {
		return nil, truncated, nil
	}
	buf := make([]byte, n)
	m, err := t.f.ReadAt(buf, t.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, truncated, err
	}
	buf = buf[:m]
	switch {
	case final && t.off+int64(m) == size:
	case int64(m) == limit && bytes.IndexByte(buf, '\n') < 0:
	default:
		buf = buf[:bytes.LastIndexByte(buf, '\n')+1]
	}
	return buf, truncated, nil
}

// drained reports whether every byte of t has been delivered.
func (t *tailed) drained() bool {
	fi, err := t.f.Stat()
	return err != nil || t.off >= fi.Size()
}

// cleanup closes and drops retired files that are fully delivered and past
// grace, the time a writer gets to reopen its log after a rename.
func (s *source) cleanup(now time.Time, grace time.Duration) (changed bool) {
	kept := s.files[:0]
	for _, t := range s.files {
		if !t.retiredAt.IsZero() && now.Sub(t.retiredAt) >= grace && t.drained() {
			t.f.Close()
			changed = true
			continue
		}
		kept = append(kept, t)
	}
	clear(s.files[len(kept):])
	s.files = kept
	return changed
}

func (s *source) close() {
	for _, t := range s.files {
		t.f.Close()
	}
}
