// Package wire is the one format of what skiff sends to a host and reads
// back: the sh it sends frames what each part of a script prints, and
// carries data in here-documents; the output is read back frame by frame.
// The engine, the probe helper (which writes frames itself) and the deploy
// lock all use it.
//
// A frame is a part of a script's stdout between two marker lines:
//
//	@@TOKEN begin NAME
//	BODY
//	@@TOKEN end NAME EXIT
//
// Each marker line is printed after a newline of its own, which belongs to
// the marker: BODY is exactly what the framed command printed, ending in a
// newline or not, and so is the output before the first frame. TOKEN is
// random, made for each script, so nothing a command prints can pass for
// a marker; NAME is a word (a task's index, "facts", "undo-3"); EXIT is
// the framed command's exit status. Output between frames is ignored.
package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Token marks the frames of one script.
type Token string

// NewToken is a fresh random token.
func NewToken() Token {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return Token(hex.EncodeToString(b))
}

// Frame is one framed part of a script's output.
type Frame struct {
	Name string
	Body []byte
	Exit int
}

// Section is sh that runs cmd framed as name: what cmd prints is the
// frame's body, its exit status the frame's. cmd is one sh command (a
// call, a subshell, a compound command) and may span lines. name is a
// word of letters, digits, '-' and '_'.
func (t Token) Section(name, cmd string) string {
	checkName(name)
	return fmt.Sprintf("printf '\\n@@%s begin %s\\n'\n%s\nprintf '\\n@@%s end %s %%d\\n' \"$?\"\n", t, name, cmd, t, name)
}

// AppendFrame appends to b the frame name, as Section's sh prints it.
func (t Token) AppendFrame(b []byte, name string, body []byte, exit int) []byte {
	checkName(name)
	b = fmt.Appendf(b, "\n@@%s begin %s\n", t, name)
	b = append(b, body...)
	return fmt.Appendf(b, "\n@@%s end %s %d\n", t, name, exit)
}

// checkName panics on a name that is not one word: names are skiff's own.
func checkName(name string) {
	if name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		panic(fmt.Sprintf("wire: bad frame name %q", name))
	}
}

// Unfinished is the error of output that ends inside a frame: the command
// framed as Name, or the script, died before it ended.
type Unfinished struct{ Name string }

func (u *Unfinished) Error() string { return fmt.Sprintf("output of %s did not finish", u.Name) }

// Parse reads the frames marked with t in out, in order. before is the
// output before the first frame (all of out when there is none), returned
// even with an error. A frame begun and not ended is an *Unfinished
// error; a marker line cut short or garbled is an error too.
func Parse(out []byte, t Token) (before []byte, frames []Frame, err error) {
	mark := []byte("\n@@" + string(t) + " ")
	i := bytes.Index(out, mark)
	if i < 0 {
		return out, nil, nil
	}
	before, rest := out[:i], out[i:]
	for {
		i := bytes.Index(rest, mark)
		if i < 0 {
			return before, frames, nil
		}
		line, after, ok := bytes.Cut(rest[i+len(mark):], []byte("\n"))
		if !ok {
			return before, frames, fmt.Errorf("output is truncated in a frame marker")
		}
		f := strings.Fields(string(line))
		if len(f) != 2 || f[0] != "begin" {
			return before, frames, fmt.Errorf("output is garbled near %q", line)
		}
		end := []byte("\n@@" + string(t) + " end " + f[1] + " ")
		j := bytes.Index(after, end)
		if j < 0 {
			return before, frames, &Unfinished{Name: f[1]}
		}
		code, next, ok := bytes.Cut(after[j+len(end):], []byte("\n"))
		if !ok {
			return before, frames, fmt.Errorf("output is truncated after %s", f[1])
		}
		exit, err := strconv.Atoi(string(code))
		if err != nil {
			return before, frames, fmt.Errorf("output of %s ends with a garbled exit status %q", f[1], code)
		}
		frames = append(frames, Frame{Name: f[1], Body: after[:j:j], Exit: exit})
		rest = next
	}
}

// Find is the first of frames named name.
func Find(frames []Frame, name string) (Frame, bool) {
	for _, f := range frames {
		if f.Name == name {
			return f, true
		}
	}
	return Frame{}, false
}

// Heredoc is sh that runs cmd with body on its stdin, verbatim: a quoted
// here-document, so nothing in body is expanded. Its delimiter carries a
// fresh token, chosen so that no line of body equals it. A body that does
// not end in a newline gets one.
func Heredoc(cmd, body string) string {
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	delim := "SKIFF_EOF_" + string(NewToken())
	for strings.Contains("\n"+body, "\n"+delim+"\n") {
		delim = "SKIFF_EOF_" + string(NewToken())
	}
	return cmd + " <<'" + delim + "'\n" + body + delim + "\n"
}
