package module

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// largeContent is the size from which SHA256 remembers digests.
const largeContent = 64 << 10

// digests holds the sha256 of large contents by their backing array. A
// local file's bytes are read once per run and shared by every host's task
// (LocalFiles; nobody modifies them), so a 10 MB binary is hashed at most
// once per run instead of at every probe and check on every host. The key
// keeps the array alive, so its address cannot be reused by other content.
var digests sync.Map // digestKey -> *digest

type digestKey struct {
	first *byte
	n     int
}

// digest is computed once, however many hosts ask at the same time.
type digest struct {
	once sync.Once
	hex  string
}

// SHA256 is the hex sha256 of content.
func SHA256(content []byte) string {
	if len(content) < largeContent {
		sum := sha256.Sum256(content)
		return hex.EncodeToString(sum[:])
	}
	v, _ := digests.LoadOrStore(digestKey{&content[0], len(content)}, &digest{})
	d := v.(*digest)
	d.once.Do(func() {
		sum := sha256.Sum256(content)
		d.hex = hex.EncodeToString(sum[:])
	})
	return d.hex
}

// knownSHA256 tells SHA256 the digest of content, learnt without hashing
// it (LocalFiles' digest cache).
func knownSHA256(content []byte, hexSum string) {
	if len(content) < largeContent {
		return
	}
	d := &digest{hex: hexSum}
	d.once.Do(func() {})
	digests.LoadOrStore(digestKey{&content[0], len(content)}, d)
}
