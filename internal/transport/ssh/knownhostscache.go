package ssh

import (
	"errors"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"

	gossh "golang.org/x/crypto/ssh"
)

// parsedFile is a known_hosts file as parsed, and the stat it had then.
type parsedFile struct {
	stamp fileStamp
	db    gossh.HostKeyCallback
}

// fileStamp tells a file's versions apart; the zero stamp is a missing file.
type fileStamp struct {
	ino, size int64
	mtime     int64 // nanoseconds
}

// load parses the known_hosts file, or returns the parse of it that the
// store holds when the file has not changed since; a missing file is an
// empty one.
func (s *HostKeyStore) load(path string) (gossh.HostKeyCallback, error) {
	l := s.fileLock(path)
	l.RLock()
	defer l.RUnlock()
	stamp, err := stampOf(path)
	if err != nil {
		return nil, err
	}
	// One parse at a time: the many handshakes of a run's start wait for
	// the first one's parse instead of each making their own.
	s.parseMu.Lock()
	defer s.parseMu.Unlock()
	if p, ok := s.parsed[path]; ok && p.stamp == stamp {
		return p.db, nil
	}
	db, err := readKnownHosts(path)
	if err != nil {
		return nil, err
	}
	s.parsed[path] = parsedFile{stamp: stamp, db: db}
	return db, nil
}

// stampOf is path's stamp; the zero stamp when it is missing.
func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileStamp{}, nil
	}
	if err != nil {
		return fileStamp{}, err
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = int64(sys.Ino)
	}
	return st, nil
}

// knownHostsReads counts the parses of known_hosts files (readKnownHosts),
// for tests.
var knownHostsReads atomic.Int64
