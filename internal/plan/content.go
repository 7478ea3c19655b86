package plan

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/skiffdeploy/skiff/internal/localfile"
)

// Content is what a change writes on a host, as a saved plan pins it:
// where the content comes from and its keyed digest.
type Content struct {
	// Source names where the content comes from: a local file's path, a
	// template's path, or the task's inline content. Never a value.
	Source string `json:"source"`
	// Digest is "hmac-sha256:HEX", keyed with the plan's ContentKey.
	Digest string `json:"digest"`
}

// ContentKey keys the content digests of one saved plan.
//
// The digests are keyed because content may hold secrets (a password
// file, a template that renders one), and a plan file must tell nothing
// about them: a plain sha256 of a short secret is guessed by trying
// candidates. Keying with a value stored in the plan file itself would not
// help (whoever reads the file could try candidates just as well), so the
// key is derived from a random site key kept beside the inventory, in
// .skiff/ with the local CA's key, and never in the plan: a plan file
// read, copied or published alone reveals nothing of the content. Each
// plan derives its own key from a random nonce it records, so that equal
// content in two plans does not show as equal digests.
type ContentKey []byte

// Digest is the keyed digest of content whose hex sha256 is sha256Hex.
// Keying the sha256 (which skiff computes once per local file and run)
// rather than the content costs nothing for a large binary shipped to
// many hosts, and is as strong: without the key, neither says anything.
func (k ContentKey) Digest(sha256Hex string) string {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(sha256Hex))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// Check is a value that tells whether a key is k, and nothing else.
func (k ContentKey) Check() string { return k.Digest("skiff saved plan key check") }

// NewContentNonce returns a fresh random nonce for a plan's ContentKey.
func NewContentNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// PlanContentKey derives a plan's ContentKey from the site key and the
// plan's nonce.
func PlanContentKey(siteKey []byte, nonce string) ContentKey {
	m := hmac.New(sha256.New, siteKey)
	m.Write([]byte("skiff saved plan content key\x00" + nonce))
	return m.Sum(nil)
}

// siteKeySize is the length of a site key in bytes.
const siteKeySize = 32

// ReadSiteKey reads the site key at path; with create, a missing key is
// made (32 random bytes, 0600, its folder 0700). The key is written whole
// to a new file of this user and then linked to path, which never follows
// or replaces what is already there: of two plans made at once, both use
// the key that reached path first.
func ReadSiteKey(path string, create bool) ([]byte, error) {
	key, err := readKeyFile(path)
	if err == nil || !create || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key = make([]byte, siteKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := localfile.Exclusive(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return readKeyFile(path)
}

// readKeyFile reads a site key: a regular file (not a link) of exactly
// siteKeySize bytes.
func readKeyFile(path string) ([]byte, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(key) != siteKeySize {
		return nil, fmt.Errorf("%s: holds %d bytes, a key has %d", path, len(key), siteKeySize)
	}
	return key, nil
}

// Contents indexes the content a plan writes: host, then task key
// (Change.Key), then the digests.
type Contents map[string]map[string][]string

// Contents returns the index of the content p's changes write.
func (p *Plan) Contents() Contents {
	out := Contents{}
	for _, h := range p.Hosts {
		for _, c := range h.Changes {
			if c.Content == nil {
				continue
			}
			if out[h.Name] == nil {
				out[h.Name] = map[string][]string{}
			}
			out[h.Name][c.Key()] = append(out[h.Name][c.Key()], c.Content.Digest)
		}
	}
	return out
}

// Has reports whether the plan writes content with digest for task on host.
func (c Contents) Has(host, task, digest string) bool {
	for _, d := range c[host][task] {
		if d == digest {
			return true
		}
	}
	return false
}
