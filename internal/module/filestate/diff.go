package filestate

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"
)

// MaxDiffSize is the largest file whose content the probe sends back for a diff.
const MaxDiffSize = 256 * 1024

// IsText reports whether b can be shown in a diff: valid UTF-8 without NUL.
func IsText(b []byte) bool { return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 }

// UnifiedDiff returns the diff from the host's content to the wanted one,
// with 3 lines of context and headers "--- P (on host)" / "+++ P (wanted)".
// A missing final newline is marked as diff(1) does.
func UnifiedDiff(p string, onHost, wanted []byte) string {
	d := difflib.UnifiedDiff{
		A:        splitLines(string(onHost)),
		B:        splitLines(string(wanted)),
		FromFile: p + " (on host)",
		ToFile:   p + " (wanted)",
		Context:  3,
	}
	s, err := difflib.GetUnifiedDiffString(d)
	if err != nil { // only a writer error, impossible with a strings.Builder
		return ""
	}
	return s
}

// splitLines keeps each line's "\n"; a last line without one carries the
// "\ No newline at end of file" marker, so that it differs from the same
// line with a newline and the diff shows why.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		return lines[:len(lines)-1]
	}
	lines[len(lines)-1] += "\n\\ No newline at end of file\n"
	return lines
}
