package module

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func sum(p []byte) string { s := sha256.Sum256(p); return hex.EncodeToString(s[:]) }

func TestSHA256RemembersLargeContentByArray(t *testing.T) {
	a := bytes.Repeat([]byte("a"), largeContent+1)
	b := bytes.Repeat([]byte("b"), largeContent+1)
	for i := 0; i < 2; i++ {
		if got := SHA256(a); got != sum(a) {
			t.Fatalf("SHA256(a) = %s, want %s", got, sum(a))
		}
		if got := SHA256(b); got != sum(b) {
			t.Fatalf("SHA256(b) = %s, want %s (same length, other array)", got, sum(b))
		}
	}
	if got := SHA256(a[:largeContent]); got != sum(a[:largeContent]) {
		t.Fatalf("a shorter slice of the same array got the longer one's digest")
	}
}
