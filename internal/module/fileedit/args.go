package fileedit

import (
	"regexp"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// SpecArgs reads the arguments every edited file takes: path, owner,
// group, mode, validate and create.
func SpecArgs(a *module.Args) Spec {
	return Spec{
		Kind:     a.Kind,
		Path:     filestate.PathArg(a, "path"),
		Meta:     filestate.MetaArgs(a),
		Validate: filestate.ValidateArg(a),
		Create:   a.Bool("create", false),
	}
}

// RegexpArg reads an optional regular expression (Go's RE2 syntax),
// matched against one line without its ending. It records why when the
// expression does not compile, and returns nil when absent.
func RegexpArg(a *module.Args, name string) *regexp.Regexp {
	a.RejectSensitive(name)
	s := a.String(name, false)
	if s == "" {
		if a.Has(name) && !a.Unknown(name) {
			a.Errorf(name, "%q must not be empty.", name)
		}
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		a.Errorf(name, "%q is not a valid regular expression: %s.", name, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return nil
	}
	return re
}

// PositionArgs reads insert_after (a regexp or "EOF") and insert_before (a
// regexp or "BOF"), of which one at most may be given.
func PositionArgs(a *module.Args) Position {
	a.RejectSensitive("insert_after", "insert_before")
	after, before := a.String("insert_after", false), a.String("insert_before", false)
	switch {
	case after != "" && before != "":
		a.Errorf("insert_before", "Give insert_after or insert_before, not both.")
		return Position{}
	case after == "EOF":
		return Position{}
	case before == "BOF":
		return Position{BOF: true}
	case after == "BOF":
		a.Errorf("insert_after", "insert_after takes a regular expression or \"EOF\"; for the beginning of the file write insert_before = \"BOF\".")
		return Position{}
	case before == "EOF":
		a.Errorf("insert_before", "insert_before takes a regular expression or \"BOF\"; for the end of the file leave it out (the default) or write insert_after = \"EOF\".")
		return Position{}
	case after != "":
		return Position{After: RegexpArg(a, "insert_after")}
	case before != "":
		return Position{Before: RegexpArg(a, "insert_before")}
	}
	return Position{}
}

// LineArg reads a string argument that must be one line of text: no line
// break and not from a secret (the file's diff shows it).
func LineArg(a *module.Args, name string, required bool) string {
	a.RejectSensitive(name)
	s := a.String(name, required)
	if strings.ContainsAny(s, "\r\n\x00") {
		a.Errorf(name, "%q must be one line: no line break or NUL (for several lines use block_in_file).", name)
		return ""
	}
	return s
}
