package fileedit

import (
	"regexp"
	"strings"
)

// Text is a file's content as lines, each keeping its own line ending, so
// that an edit changes only the lines it means to: a file with CRLF
// endings keeps them, and a last line without a newline stays so unless
// a line is added after it.
type Text struct {
	Lines []Line
	// EOL ends the lines an edit adds: "\r\n" when the file's first line
	// ends so, else "\n".
	EOL string
}

// Line is one line: its text (without ending) and its ending ("\n",
// "\r\n", or "" for a last line without newline).
type Line struct {
	Text, End string
}

// Parse splits content into lines.
func Parse(content []byte) Text {
	t := Text{EOL: "\n"}
	s := string(content)
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			t.Lines = append(t.Lines, Line{Text: s})
			break
		}
		l := Line{Text: s[:i], End: "\n"}
		if strings.HasSuffix(l.Text, "\r") {
			l.Text, l.End = l.Text[:len(l.Text)-1], "\r\n"
		}
		t.Lines = append(t.Lines, l)
		s = s[i+1:]
	}
	if len(t.Lines) > 0 && t.Lines[0].End == "\r\n" {
		t.EOL = "\r\n"
	}
	return t
}

// Bytes joins the lines back.
func (t Text) Bytes() []byte {
	var b strings.Builder
	for _, l := range t.Lines {
		b.WriteString(l.Text)
		b.WriteString(l.End)
	}
	return []byte(b.String())
}

// Insert puts lines (texts without endings) before index i (len(t.Lines)
// appends). Each gets t.EOL; a last line without newline that would no
// longer be last gets one.
func (t *Text) Insert(i int, texts ...string) {
	if len(texts) == 0 {
		return
	}
	if i > 0 && t.Lines[i-1].End == "" {
		t.Lines[i-1].End = t.EOL
	}
	add := make([]Line, len(texts))
	for k, s := range texts {
		add[k] = Line{Text: s, End: t.EOL}
	}
	t.Lines = append(t.Lines[:i], append(add, t.Lines[i:]...)...)
}

// Remove deletes the lines from index i to j (excluded).
func (t *Text) Remove(i, j int) {
	t.Lines = append(t.Lines[:i], t.Lines[j:]...)
}

// Position is where an edit adds what it did not find: at the end of the
// file (the zero value), at its beginning, after the last line that After
// matches or before the first line that Before matches. When neither
// regexp matches any line, at the end.
type Position struct {
	BOF           bool
	After, Before *regexp.Regexp
}

// Index is the index before which to insert into t.
func (p Position) Index(t Text) int {
	switch {
	case p.BOF:
		return 0
	case p.After != nil:
		for i := len(t.Lines) - 1; i >= 0; i-- {
			if p.After.MatchString(t.Lines[i].Text) {
				return i + 1
			}
		}
	case p.Before != nil:
		for i, l := range t.Lines {
			if p.Before.MatchString(l.Text) {
				return i
			}
		}
	}
	return len(t.Lines)
}
