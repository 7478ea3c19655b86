package module

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A large local file's sha256 is kept in LocalFiles.DigestDir, one file
// per path holding "KEY SHA256", KEY being the file's device, inode, size
// and nanosecond modification and status-change times, as hosts keep
// theirs (see filestate's digest records): any write moves the
// status-change time, which nothing can set back. A digest is trusted
// only when the key is the same before and after the content is read, and
// recorded only for a file whose status-change time is at least 2 s old,
// so that a write in the same clock tick cannot hide behind the key. The
// cache is never the truth: a missing or foreign entry costs a hash.

// readDigested reads path; for a large file it also makes its sha256
// known to SHA256, from the cache when the key matches, else by hashing
// it now and recording it.
func (c *LocalFiles) readDigested(path string) ([]byte, error) {
	if c.DigestDir == "" {
		return os.ReadFile(path)
	}
	before, okBefore := localKey(path)
	data, err := os.ReadFile(path)
	if err != nil || len(data) < largeContent || !okBefore {
		return data, err
	}
	after, ok := localKey(path)
	if !ok || after != before {
		return data, nil // changing while read: leave it to SHA256
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return data, nil
	}
	name := sha256.Sum256([]byte(abs))
	entry := filepath.Join(c.DigestDir, hex.EncodeToString(name[:16]))
	if rec, err := os.ReadFile(entry); err == nil {
		k, s, _ := strings.Cut(strings.TrimSuffix(string(rec), "\n"), " ")
		if k == before.key && len(s) == 64 {
			knownSHA256(data, s)
			return data, nil
		}
	}
	s := SHA256(data)
	if before.ctime.Before(time.Now().Add(-2 * time.Second)) {
		if os.MkdirAll(c.DigestDir, 0o700) == nil {
			tmp := fmt.Sprintf("%s.%d.tmp", entry, os.Getpid())
			if os.WriteFile(tmp, []byte(before.key+" "+s+"\n"), 0o600) == nil && os.Rename(tmp, entry) != nil {
				os.Remove(tmp)
			}
		}
	}
	return data, nil
}

type statKey struct {
	key   string
	ctime time.Time
}
