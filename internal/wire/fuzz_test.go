package wire

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse: any output parses without panicking, and frames written by
// AppendFrame around any body (one that does not carry the token, which
// is random) come back exactly, after any text before them.
func FuzzParse(f *testing.F) {
	f.Add([]byte("own"), []byte("body\n"), 0, []byte("\n@@tok begin 1\nx\n@@tok end 1 0\n"))
	f.Add([]byte(""), []byte("no newline"), 3, []byte("\n@@tok begin"))
	f.Add([]byte("\n"), []byte("\n@@tok end 0 0\n"), -1, []byte("\n@@tok begin a\n\n@@tok end b 0\n"))
	f.Fuzz(func(t *testing.T, before, body []byte, exit int, junk []byte) {
		const tok = Token("tok")
		Parse(junk, tok)
		Parse(append(append([]byte(nil), junk...), before...), tok)
		if bytes.Contains(before, []byte("\n@@tok ")) || bytes.Contains(body, []byte("\n@@tok ")) ||
			bytes.HasPrefix(body, []byte("@@tok ")) || strings.HasSuffix(string(before), "\n@@tok") {
			return
		}
		out := tok.AppendFrame(append([]byte(nil), before...), "f", body, exit)
		out = tok.AppendFrame(out, "g", nil, 0)
		got, frames, err := Parse(out, tok)
		if err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		if !bytes.Equal(got, before) || len(frames) != 2 || !bytes.Equal(frames[0].Body, body) || frames[0].Exit != exit || frames[1].Name != "g" {
			t.Fatalf("%q: before %q, frames %+v", out, got, frames)
		}
	})
}
