package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/hashicorp/hcl/v2"
)

// AgeIdentityEnv names the environment variable holding the path of the age
// identity that secret blocks without `identity` use.
const AgeIdentityEnv = "SKIFF_AGE_IDENTITY"

// DefaultAgeIdentity is the identity used when neither the secret block nor
// AgeIdentityEnv names one.
const DefaultAgeIdentity = "~/.config/skiff/age.key"

// maxAgePlaintext bounds a decrypted secrets file: it holds name=value lines.
const maxAgePlaintext = 1 << 20

// ageSource is one age file decrypted with one identity (absolute paths).
type ageSource struct{ file, identity string }

// ageResult is a decrypted age file: its entries, or why there are none.
// Messages never hold a decrypted value.
type ageResult struct {
	entries map[string]string
	summary string // set on failure
	detail  string
}

// AgeIdentityPath returns the identity file secret s decrypts with, and
// where that choice came from (for messages).
func (inv *Inventory) AgeIdentityPath(s *Secret) (path, from string) {
	if s.Identity != "" {
		return inv.Path(s.Identity), "the secret's identity argument"
	}
	if v := os.Getenv(AgeIdentityEnv); v != "" {
		return absHome(v), "$" + AgeIdentityEnv
	}
	return absHome(DefaultAgeIdentity), "the default"
}

// absHome expands a leading ~ and makes p absolute (against the working
// folder).
func absHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// ageSecret returns the value of age secret s, decrypting its file on first
// use only.
func (inv *Inventory) ageSecret(s *Secret) (string, hcl.Diagnostics) {
	file := inv.Path(s.Age)
	id, from := inv.AgeIdentityPath(s)
	src := ageSource{file, id}
	if inv.ages == nil {
		inv.ages = map[ageSource]*ageResult{}
	}
	r, ok := inv.ages[src]
	if !ok {
		r = decryptAge(file, id, from)
		inv.ages[src] = r
	}
	if r.summary != "" {
		return "", hcl.Diagnostics{errAt(s.Range, r.summary, fmt.Sprintf("Secret %q: %s", s.Name, r.detail))}
	}
	v, ok := r.entries[s.Key]
	if !ok {
		names := make([]string, 0, len(r.entries))
		for n := range r.entries {
			names = append(names, n)
		}
		sort.Strings(names)
		held := "it holds no entry"
		if len(names) > 0 {
			held = "its entries are " + strings.Join(names, ", ")
		}
		return "", hcl.Diagnostics{errAt(s.Range, "Missing secret", fmt.Sprintf("Secret %q: %s has no entry %q; %s.", s.Name, file, s.Key, held))}
	}
	return v, nil
}

// decryptAge decrypts file with the identities in identity (chosen by from)
// and parses its name=value lines. The plaintext stays in memory.
func decryptAge(file, identity, from string) *ageResult {
	fail := func(summary, format string, args ...any) *ageResult {
		return &ageResult{summary: summary, detail: fmt.Sprintf(format, args...)}
	}
	enc, err := os.Open(file)
	if err != nil {
		return fail("Missing secret", "cannot open the age file: %v.", err)
	}
	defer enc.Close()

	idf, err := os.Open(identity)
	if err != nil {
		how := fmt.Sprintf("set identity = \"PATH\" in the secret block, or $%s, to the age key that %s was encrypted to (default %s)", AgeIdentityEnv, filepath.Base(file), DefaultAgeIdentity)
		if errors.Is(err, os.ErrNotExist) {
			return fail("Missing age identity", "no age identity at %s (%s); %s.", identity, from, how)
		}
		return fail("Unreadable age identity", "cannot read the age identity %s (%s): %v; %s.", identity, from, err, how)
	}
	ids, err := age.ParseIdentities(idf)
	idf.Close()
	if err != nil {
		// age's message may quote part of a key: keep only "error at line N".
		why := err.Error()
		if i := strings.Index(why, ": "); i > 0 && strings.HasPrefix(why, "error at line") {
			why = why[:i]
		}
		return fail("Invalid age identity", "%s (%s) is not an age identity file (%s); it should hold AGE-SECRET-KEY-1… lines, as age-keygen writes.", identity, from, why)
	}

	br := bufio.NewReader(enc)
	var in io.Reader = br
	if head, _ := br.Peek(len(armor.Header)); string(head) == armor.Header {
		in = armor.NewReader(br)
	}
	pr, err := age.Decrypt(in, ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return fail("Wrong age identity", "no identity matched: %s was not encrypted to the identity in %s (%s).", file, identity, from)
		}
		return fail("Cannot decrypt secret", "%s: %v.", file, err)
	}
	plain, err := io.ReadAll(io.LimitReader(pr, maxAgePlaintext+1))
	defer clear(plain)
	if err != nil {
		return fail("Cannot decrypt secret", "%s: %v.", file, err)
	}
	if len(plain) > maxAgePlaintext {
		return fail("Cannot decrypt secret", "%s holds more than %d bytes: it should hold name=value lines.", file, maxAgePlaintext)
	}
	entries, err := parseEntries(plain)
	if err != nil {
		return fail("Invalid secrets file", "%s, decrypted: %v.", file, err)
	}
	return &ageResult{entries: entries}
}

// parseEntries reads name=value lines: the value is everything after the
// first "=" up to the end of the line (a trailing \r included in the line
// ending); blank lines and lines starting with # are skipped. Errors name
// lines, never their content.
func parseEntries(b []byte) (map[string]string, error) {
	out := map[string]string{}
	first := map[string]int{}
	for i, raw := range bytes.Split(b, []byte("\n")) {
		line := strings.TrimSuffix(string(raw), "\r")
		n := i + 1
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("line %d is not name=value", n)
		case name == "":
			return nil, fmt.Errorf("line %d has no name before =", n)
		case first[name] != 0:
			return nil, fmt.Errorf("line %d sets %q again (first set at line %d)", n, name, first[name])
		}
		first[name] = n
		out[name] = value
	}
	return out, nil
}
