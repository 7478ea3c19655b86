package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// MinLen is the shortest secret value a run scrubs from its output (see
// ForRun): hiding every "1" or "ab" would garble messages and protect
// nothing. It is also the shortest line of a multi-line value scrubbed on
// its own.
const MinLen = 4

// Scrubber replaces secret values by Redacted in text that is shown or
// kept: host errors and output, diffs, journal entries. A value is found
// in every form a host tool or skiff itself may print it in: as is, inside
// sh single quotes, JSON-escaped (with and without HTML escaping),
// Go-quoted (%q in error messages), base64-encoded; a value of several
// lines also line by line, as tools quote one line of a key or a config.
// A nil Scrubber leaves text as it is.
type Scrubber struct {
	forms []string // no duplicates
}

// NewScrubber scrubs each non-empty value of values.
func NewScrubber(values []string) *Scrubber {
	seen := map[string]bool{}
	s := &Scrubber{}
	add := func(f string) {
		if f != "" && !seen[f] {
			seen[f] = true
			s.forms = append(s.forms, f)
		}
	}
	for _, v := range values {
		if v == "" {
			continue
		}
		for _, f := range forms(v) {
			add(f)
		}
		if strings.ContainsAny(v, "\r\n") {
			for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if line = strings.TrimSpace(line); len(line) >= MinLen {
					for _, f := range forms(line) {
						add(f)
					}
				}
			}
		}
	}
	return s
}

// ForRun scrubs a run's secrets (name → value), leaving out values
// shorter than MinLen.
func ForRun(secrets map[string]string) *Scrubber {
	var vals []string
	for _, v := range secrets {
		if len(v) >= MinLen {
			vals = append(vals, v)
		}
	}
	return NewScrubber(vals)
}

// forms lists how v may be printed; the quoted forms without their quotes,
// so that v is also found inside a larger quoted string.
func forms(v string) []string {
	out := []string{
		v,
		strings.ReplaceAll(v, `'`, `'\''`), // as shell.Quote writes it
		unquote(strconv.Quote(v)),
		base64.StdEncoding.EncodeToString([]byte(v)),
	}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(v) == nil {
			out = append(out, unquote(strings.TrimSuffix(b.String(), "\n")))
		}
	}
	return out
}

func unquote(q string) string { return q[1 : len(q)-1] }

// Scrub returns text with every occurrence of a secret, in any of its
// forms, replaced by Redacted. Occurrences that overlap or touch are
// replaced as one, so that no part of a secret remains beside another.
func (s *Scrubber) Scrub(text string) string {
	if s == nil || len(s.forms) == 0 || text == "" {
		return text
	}
	type span struct{ from, to int }
	var spans []span
	for _, f := range s.forms {
		for at := 0; at < len(text); {
			i := strings.Index(text[at:], f)
			if i < 0 {
				break
			}
			spans = append(spans, span{at + i, at + i + len(f)})
			at += i + 1
		}
	}
	if len(spans) == 0 {
		return text
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	var b strings.Builder
	written := 0
	cur := spans[0]
	flush := func() {
		b.WriteString(text[written:cur.from])
		b.WriteString(Redacted)
		written = cur.to
	}
	for _, sp := range spans[1:] {
		if sp.from <= cur.to {
			cur.to = max(cur.to, sp.to)
			continue
		}
		flush()
		cur = sp
	}
	flush()
	b.WriteString(text[written:])
	return b.String()
}
