package module

import (
	"os"
	"sync"
	"time"
)

// LocalFiles reads files of the operator's machine (sources, templates)
// once per run: a 10 MB binary shipped to 50 hosts is held in memory once,
// not 50 times. An entry is reused while the file's size and modification
// time stay the same. Safe for concurrent use; the zero value is ready.
type LocalFiles struct {
	// DigestDir, when set, keeps the sha256 of large files across runs
	// (see localdigest.go), so that an unchanged 10 MB binary is not
	// hashed again at every run.
	DigestDir string

	mu sync.Mutex
	m  map[string]localFile
}

type localFile struct {
	size  int64
	mtime time.Time
	data  []byte
}

// Read returns the content of path. Callers must not modify it.
func (c *LocalFiles) Read(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if f, ok := c.m[path]; ok && f.size == st.Size() && f.mtime.Equal(st.ModTime()) {
		c.mu.Unlock()
		return f.data, nil
	}
	c.mu.Unlock()
	data, err := c.readDigested(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]localFile{}
	}
	c.m[path] = localFile{size: st.Size(), mtime: st.ModTime(), data: data}
	c.mu.Unlock()
	return data, nil
}
