package wire

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// sh runs script with the local sh, as a host would.
func sh(t *testing.T, script string) []byte {
	t.Helper()
	cmd := exec.Command("/bin/sh")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out
}

// What each framed command printed comes back byte for byte, with its
// exit status, and so does what the script printed before the frames;
// text that merely looks like a marker stays in the body.
func TestSectionsComeBackExactly(t *testing.T) {
	tok := NewToken()
	script := "printf 'own output, no newline'\n" +
		tok.Section("a", "echo one; echo '@@ not a marker'; echo '@@0123 end a 0'") +
		"echo between the frames\n" +
		tok.Section("b", "(printf 'no newline'; exit 3)") +
		tok.Section("c", "true") +
		tok.Section("d", "(\necho multi\nline\n)")
	before, frames, err := Parse(sh(t, script), tok)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != "own output, no newline" {
		t.Errorf("before = %q", before)
	}
	want := []Frame{
		{"a", []byte("one\n@@ not a marker\n@@0123 end a 0\n"), 0},
		{"b", []byte("no newline"), 3},
		{"c", []byte(""), 0},
		{"d", []byte("multi\n"), 127},
	}
	if len(frames) != len(want) {
		t.Fatalf("frames = %+v, want %+v", frames, want)
	}
	for i, f := range frames {
		if f.Name != want[i].Name || !bytes.Equal(f.Body, want[i].Body) || f.Exit != want[i].Exit {
			t.Errorf("frame %d = %q %q %d, want %q %q %d", i, f.Name, f.Body, f.Exit, want[i].Name, want[i].Body, want[i].Exit)
		}
	}
}

// The probe helper writes frames in Go: byte for byte what sh prints for
// the same output, so the engine reads both alike.
func TestAppendFrameMatchesSection(t *testing.T) {
	tok := NewToken()
	for _, c := range []struct {
		cmd  string
		body string
		exit int
	}{{"echo hi", "hi\n", 0}, {"(printf x; exit 2)", "x", 2}, {"true", "", 0}} {
		got := sh(t, tok.Section("7", c.cmd))
		want := tok.AppendFrame(nil, "7", []byte(c.body), c.exit)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: sh printed %q, Go %q", c.cmd, got, want)
		}
	}
}

// Output that ends inside a frame (the script died there) says which.
func TestParseUnfinished(t *testing.T) {
	tok := NewToken()
	out := tok.AppendFrame([]byte("own"), "a", []byte("x"), 0)
	out = append(out, "\n@@"+string(tok)+" begin b\npartial"...)
	before, frames, err := Parse(out, tok)
	var u *Unfinished
	if !errors.As(err, &u) || u.Name != "b" {
		t.Fatalf("err = %v, want b unfinished", err)
	}
	if string(before) != "own" || len(frames) != 1 || string(frames[0].Body) != "x" {
		t.Errorf("before %q, frames %+v", before, frames)
	}
	for _, bad := range []string{" begin", " begin a b\n", " end a 0\n", " begin a\nx\n@@" + string(tok) + " end a zero\n"} {
		if _, _, err := Parse([]byte("\n@@"+string(tok)+bad), tok); err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
}

// A here-document carries its body verbatim: no expansion, and a line
// equal to a delimiter skiff used elsewhere ends nothing.
func TestHeredocIsVerbatim(t *testing.T) {
	body := "$HOME `id` \\n 'q' \"d\"\nSKIFF_EOF_" + string(NewToken()) + "\nSKIFF_LOCK_JSON\nlast"
	if got := string(sh(t, Heredoc("cat", body))); got != body+"\n" {
		t.Errorf("cat printed %q, want %q", got, body+"\n")
	}
	if got := string(sh(t, Heredoc("cat", "ends\n"))); got != "ends\n" {
		t.Errorf("cat printed %q", got)
	}
}

// A name that is not one word is a programming error.
func TestSectionRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "a b", "a'b", "a%d", "a\nb"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Section(%q) did not panic", name)
				}
			}()
			NewToken().Section(name, "true")
		}()
	}
}
