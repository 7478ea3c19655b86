// Package blockinfile is the "block_in_file" task kind: lines of a text
// file between two marker lines that skiff writes and finds again (see
// package fileedit for how the file is read and written).
//
//	task "block_in_file" "hosts" {
//	  path  = "/etc/hosts"
//	  block = "10.0.0.5 db\n10.0.0.6 cache"
//	}
package blockinfile

import (
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/fileedit"
)

// DefaultMarker is the marker's default; {mark} stands for BEGIN or END.
const DefaultMarker = "# {mark} SKIFF MANAGED BLOCK"

// spec is what a block_in_file task wants.
type spec struct {
	begin, end string   // the marker lines
	block      []string // its lines, without endings
	at         fileedit.Position
	absent     bool
}

// New is the module.Factory of the "block_in_file" kind.
func New(a *module.Args) module.Module {
	s := spec{
		absent: a.OneOf("state", "present", "present", "absent") == "absent",
		at:     fileedit.PositionArgs(a),
	}
	marker := fileedit.LineArg(a, "marker", false)
	if !a.Has("marker") {
		marker = DefaultMarker
	}
	begin := fileedit.LineArg(a, "marker_begin", false)
	if !a.Has("marker_begin") {
		begin = "BEGIN"
	}
	end := fileedit.LineArg(a, "marker_end", false)
	if !a.Has("marker_end") {
		end = "END"
	}
	switch {
	case a.Unknown("marker") || a.Unknown("marker_begin") || a.Unknown("marker_end"):
	case !strings.Contains(marker, "{mark}"):
		a.Errorf("marker", "marker must contain {mark}, which stands for marker_begin and marker_end, so that the two marker lines differ.")
	case begin == end:
		a.Errorf("marker_end", "marker_begin and marker_end must differ.")
	}
	s.begin, s.end = strings.ReplaceAll(marker, "{mark}", begin), strings.ReplaceAll(marker, "{mark}", end)

	a.RejectSensitive("block")
	block := a.String("block", !s.absent)
	if strings.ContainsAny(block, "\r\x00") {
		a.Errorf("block", "block must not contain a carriage return or NUL: lines end as the file's do.")
	}
	if s.absent && a.Has("block") {
		a.Errorf("block", "With state = \"absent\" the block is removed whatever it holds: leave block out.")
	}
	if s.absent && (a.Has("insert_after") || a.Has("insert_before")) {
		a.Errorf("insert_after", "insert_after and insert_before place the block; they do not go with state = \"absent\".")
	}
	if block = strings.TrimSuffix(block, "\n"); block != "" {
		s.block = strings.Split(block, "\n")
	}
	for _, l := range s.block {
		if l == s.begin || l == s.end {
			a.Errorf("block", "block must not contain its own marker line %q.", l)
			break
		}
	}
	return fileedit.New(fileedit.SpecArgs(a), s.edit)
}

// find returns the indexes of the begin and end marker lines, -1 each when
// the block is not there; a marker without its pair, or several blocks,
// are errors: skiff does not guess which lines it manages.
func (s spec) find(t *fileedit.Text) (int, int, error) {
	var begins, ends []int
	for i, l := range t.Lines {
		switch strings.TrimRight(l.Text, " \t") {
		case s.begin:
			begins = append(begins, i+1)
		case s.end:
			ends = append(ends, i+1)
		}
	}
	switch {
	case len(begins) == 0 && len(ends) == 0:
		return -1, -1, nil
	case len(begins) == 1 && len(ends) == 1 && begins[0] < ends[0]:
		return begins[0] - 1, ends[0] - 1, nil
	case len(begins) > 1 || len(ends) > 1:
		return 0, 0, fmt.Errorf("the marker lines %q and %q appear more than once (lines %v and %v): leave one block, by hand", s.begin, s.end, begins, ends)
	}
	return 0, 0, fmt.Errorf("the marker lines %q (line %v) and %q (line %v) do not enclose a block: repair or remove them by hand", s.begin, begins, s.end, ends)
}

// edit computes the wanted text: the block between its markers replaces
// the one there, or is inserted where Position says; absent removes the
// block and its markers.
func (s spec) edit(t *fileedit.Text) ([]string, error) {
	b, e, err := s.find(t)
	if err != nil {
		return nil, err
	}
	if s.absent {
		if b < 0 {
			return nil, nil
		}
		t.Remove(b, e+1)
		return []string{fmt.Sprintf("remove the block at lines %d-%d", b+1, e+1)}, nil
	}
	if b >= 0 {
		if s.same(t.Lines[b+1 : e]) {
			return nil, nil
		}
		// The markers stay as they are (with their endings); the lines
		// between them are replaced.
		t.Remove(b+1, e)
		t.Insert(b+1, s.block...)
		return []string{fmt.Sprintf("replace the block at line %d", b+1)}, nil
	}
	i := s.at.Index(*t)
	t.Insert(i, append(append([]string{s.begin}, s.block...), s.end)...)
	return []string{fmt.Sprintf("insert the block at line %d", i+1)}, nil
}

// same reports whether lines hold the block already.
func (s spec) same(lines []fileedit.Line) bool {
	if len(lines) != len(s.block) {
		return false
	}
	for i, l := range lines {
		if l.Text != s.block[i] {
			return false
		}
	}
	return true
}
