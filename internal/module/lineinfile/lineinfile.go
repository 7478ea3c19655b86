// Package lineinfile is the "line_in_file" task kind: one line of a text
// file, found by a regular expression or by its text, replaced, inserted
// or removed (see package fileedit for how the file is read and written).
//
//	task "line_in_file" "no_root_login" {
//	  path     = "/etc/ssh/sshd_config"
//	  regexp   = "^#?PermitRootLogin "
//	  line     = "PermitRootLogin no"
//	  validate = "sshd -t -f %s"
//	}
package lineinfile

import (
	"fmt"
	"regexp"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/fileedit"
)

// spec is what a line_in_file task wants.
type spec struct {
	line   string
	regexp *regexp.Regexp // nil: the line is found by its text
	at     fileedit.Position
	absent bool
}

// New is the module.Factory of the "line_in_file" kind.
func New(a *module.Args) module.Module {
	s := spec{
		absent: a.OneOf("state", "present", "present", "absent") == "absent",
		regexp: fileedit.RegexpArg(a, "regexp"),
		at:     fileedit.PositionArgs(a),
	}
	s.line = fileedit.LineArg(a, "line", !s.absent)
	if s.absent && !a.Has("line") && !a.Has("regexp") {
		a.Errorf("regexp", "With state = \"absent\", give the regexp of the lines to remove, or the line itself.")
	}
	if s.absent && (a.Has("insert_after") || a.Has("insert_before")) {
		a.Errorf("insert_after", "insert_after and insert_before place a line; they do not go with state = \"absent\".")
	}
	return fileedit.New(fileedit.SpecArgs(a), s.edit)
}

// matches reports whether l is a line the task is about.
func (s spec) matches(l string) bool {
	if s.regexp != nil {
		return s.regexp.MatchString(l)
	}
	return l == s.line
}

// edit computes the wanted text:
//   - present: the last line the regexp matches becomes the line; with no
//     match (or no regexp), a line equal to it is enough; else the line is
//     inserted where Position says.
//   - absent: every line the regexp matches (or equal to the line) goes.
func (s spec) edit(t *fileedit.Text) ([]string, error) {
	if s.absent {
		n := 0
		for i := len(t.Lines) - 1; i >= 0; i-- {
			if s.matches(t.Lines[i].Text) {
				t.Remove(i, i+1)
				n++
			}
		}
		if n == 0 {
			return nil, nil
		}
		return []string{fmt.Sprintf("remove %d line(s)", n)}, nil
	}
	if s.regexp != nil {
		for i := len(t.Lines) - 1; i >= 0; i-- {
			if s.regexp.MatchString(t.Lines[i].Text) {
				if t.Lines[i].Text == s.line {
					return nil, nil
				}
				t.Lines[i].Text = s.line
				return []string{fmt.Sprintf("replace line %d", i+1)}, nil
			}
		}
	}
	for _, l := range t.Lines {
		if l.Text == s.line {
			return nil, nil
		}
	}
	i := s.at.Index(*t)
	t.Insert(i, s.line)
	if i == len(t.Lines)-1 {
		return []string{fmt.Sprintf("add line %d at the end", i+1)}, nil
	}
	return []string{fmt.Sprintf("insert line %d", i+1)}, nil
}
