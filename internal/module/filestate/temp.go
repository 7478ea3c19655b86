package filestate

import (
	"crypto/rand"
	"encoding/hex"
	"path"
)

// TempPath returns a fresh name beside p, "<dir>/.skiff-<base>.<random>.tmp":
// on the same filesystem, so renaming it over p is atomic.
func TempPath(p string) string {
	var r [6]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return path.Join(path.Dir(p), ".skiff-"+path.Base(p)+"."+hex.EncodeToString(r[:])+".tmp")
}
