//go:build linux || darwin

package module

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// entryFor is where LocalFiles keeps path's digest in dir.
func entryFor(t *testing.T, dir, path string) string {
	abs, _ := filepath.Abs(path)
	name := sha256.Sum256([]byte(abs))
	return filepath.Join(dir, hex.EncodeToString(name[:16]))
}

// A kept digest whose key matches is what SHA256 reports, without
// hashing; a write to the file, even of the same size, moves the key.
func TestLocalDigestIsKeptUntilTheFileChanges(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(t.TempDir(), "app")
	content := bytes.Repeat([]byte("a"), largeContent*2)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	k, ok := localKey(p)
	if !ok {
		t.Fatal("no key")
	}
	fake := sum([]byte("from the cache"))
	os.MkdirAll(dir, 0o700)
	if err := os.WriteFile(entryFor(t, dir, p), []byte(k.key+" "+fake+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := (&LocalFiles{DigestDir: dir}).Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := SHA256(data); got != fake {
		t.Fatalf("SHA256 = %s, want the kept digest", got)
	}
	time.Sleep(20 * time.Millisecond)
	content[0] = 'b'
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	data, err = (&LocalFiles{DigestDir: dir}).Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := SHA256(data); got != sum(content) {
		t.Fatalf("after a same-size write: SHA256 = %s, want %s", got, sum(content))
	}
}

// A file written just now is hashed but its digest is not kept: a write
// in the same clock tick could leave the key unchanged.
func TestLocalDigestOfAFreshFileIsNotKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "digests")
	p := filepath.Join(t.TempDir(), "app")
	content := bytes.Repeat([]byte("c"), largeContent*2)
	os.WriteFile(p, content, 0o644)
	data, err := (&LocalFiles{DigestDir: dir}).Read(p)
	if err != nil || SHA256(data) != sum(content) {
		t.Fatalf("read: %v", err)
	}
	if _, err := os.Stat(entryFor(t, dir, p)); !os.IsNotExist(err) {
		t.Errorf("a digest was kept for a file written just now (%v)", err)
	}
}
