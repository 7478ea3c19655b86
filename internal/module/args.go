package module

import (
	"fmt"
	"math/big"
	"os"
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/suggest"
)

// Attr is one evaluated task argument.
type Attr struct {
	Value cty.Value
	Range hcl.Range // the value's
	// NameRange is where the argument's name is written, when known.
	NameRange hcl.Range
}

// Args are a task's arguments, already evaluated for one host. Accessors
// record a diagnostic (at the argument's source range) on a wrong type or a
// missing required argument and return the zero value; Finish reports
// arguments no accessor asked for.
type Args struct {
	Kind, Name string // task "template" "site"
	Range      hcl.Range
	// RoleDir is the role's folder: templates/ and files/ are inside it.
	RoleDir string
	// Eval is the evaluation context of the task, for rendering templates.
	Eval *hcl.EvalContext
	// Files reads local files (sources, templates) once per run; nil reads
	// them every time.
	Files *LocalFiles

	attrs map[string]Attr
	used  map[string]bool
	diags hcl.Diagnostics

	becomeUser     string
	becomeUserAt   *hcl.Range // the task's own become_user; nil: the play's, or none
	becomeUserRead bool
}

// SetBecomeUser sets the user the task runs as (become_user): "" is root.
// at is where the task itself says so; nil when the user is its play's,
// which applies only to the kinds that honour it.
func (a *Args) SetBecomeUser(user string, at *hcl.Range) {
	a.becomeUser, a.becomeUserAt = user, at
}

// BecomeUser is the user the task runs as, "" for root. A kind that
// honours become_user reads it (files it writes are owned by that user, a
// command runs as that user); Finish reports a task's own become_user on
// a kind that does not.
func (a *Args) BecomeUser() string {
	a.becomeUserRead = true
	return a.becomeUser
}

// NewArgs wraps evaluated attributes.
func NewArgs(kind, name string, rng hcl.Range, attrs map[string]Attr) *Args {
	return &Args{Kind: kind, Name: name, Range: rng, attrs: attrs, used: map[string]bool{}}
}

// Has reports whether the argument was given (and is not null).
func (a *Args) Has(name string) bool {
	at, ok := a.attrs[name]
	a.used[name] = true
	return ok && !at.Value.IsNull()
}

// Unknown reports whether the argument's value is not known yet (validate mode).
func (a *Args) Unknown(name string) bool {
	at, ok := a.attrs[name]
	a.used[name] = true
	return ok && !at.Value.IsWhollyKnown()
}

// Sensitive reports whether the argument's value derives from a secret.
func (a *Args) Sensitive(name string) bool {
	at, ok := a.attrs[name]
	return ok && secret.Is(at.Value)
}

// Value returns the raw value (marks removed), cty.NilVal when absent.
func (a *Args) Value(name string) cty.Value {
	a.used[name] = true
	at, ok := a.attrs[name]
	if !ok {
		return cty.NilVal
	}
	v, _ := at.Value.UnmarkDeep()
	return v
}

// AttrRange is where the argument was written, or the task's range.
func (a *Args) AttrRange(name string) hcl.Range {
	if at, ok := a.attrs[name]; ok {
		return at.Range
	}
	return a.Range
}

// Errorf records a diagnostic at the argument's range (the task's when absent).
func (a *Args) Errorf(name, format string, args ...any) {
	a.diags = append(a.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s task %q", a.Kind, a.Name),
		Detail:   fmt.Sprintf(format, args...),
		Subject:  a.AttrRange(name).Ptr(),
	})
}

func (a *Args) get(name string, ty cty.Type, required bool) (cty.Value, bool) {
	a.used[name] = true
	at, ok := a.attrs[name]
	if !ok || at.Value.IsNull() {
		if required {
			a.diags = append(a.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf("The %s task %q needs the argument %q.", a.Kind, a.Name, name),
				Subject:  a.Range.Ptr(),
			})
		}
		return cty.NilVal, false
	}
	v, _ := at.Value.UnmarkDeep()
	if !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		a.Errorf(name, "Argument %q: %s.", name, err)
		return cty.NilVal, false
	}
	return cv, true
}

// String returns a string argument.
func (a *Args) String(name string, required bool) string {
	v, ok := a.get(name, cty.String, required)
	if !ok {
		return ""
	}
	return v.AsString()
}

// StringDefault returns a string argument or def when absent.
func (a *Args) StringDefault(name, def string) string {
	if !a.Has(name) {
		return def
	}
	return a.String(name, false)
}

// Bool returns a bool argument or def when absent.
func (a *Args) Bool(name string, def bool) bool {
	v, ok := a.get(name, cty.Bool, false)
	if !ok {
		return def
	}
	return v.True()
}

// Int returns a whole-number argument or def when absent.
func (a *Args) Int(name string, def int) int {
	v, ok := a.get(name, cty.Number, false)
	if !ok {
		return def
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if acc != big.Exact {
		a.Errorf(name, "Argument %q must be a whole number.", name)
		return def
	}
	return int(i)
}

// StringList returns a list-of-strings argument (a single string is a list of one).
func (a *Args) StringList(name string) []string {
	raw := a.Value(name)
	if raw == cty.NilVal || raw.IsNull() || !raw.IsWhollyKnown() {
		return nil
	}
	if raw.Type() == cty.String {
		return []string{raw.AsString()}
	}
	v, ok := a.get(name, cty.List(cty.String), false)
	if !ok {
		return nil
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out
}

// Mode returns a file mode written as an octal string ("0644", "755").
// ok is false when absent, unknown or invalid (invalid also records a diagnostic).
func (a *Args) Mode(name string) (mode os.FileMode, ok bool) {
	s := a.String(name, false)
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 07777 || len(s) < 3 || len(s) > 4 {
		a.Errorf(name, "%q is not a file mode: write it as an octal string such as \"0644\".", s)
		return 0, false
	}
	return os.FileMode(n), true
}

// OneOf returns a string argument that must be one of choices (def when absent).
func (a *Args) OneOf(name, def string, choices ...string) string {
	s := a.StringDefault(name, def)
	if s == "" && a.Unknown(name) {
		return def
	}
	for _, c := range choices {
		if s == c {
			return s
		}
	}
	a.Errorf(name, "%q must be one of %q, not %q.", name, choices, s)
	return def
}

// Finish reports arguments that no accessor used, and returns all diagnostics.
func (a *Args) Finish() hcl.Diagnostics {
	var names []string
	for n := range a.attrs {
		if !a.used[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	known := make([]string, 0, len(a.used))
	for n := range a.used {
		if _, given := a.attrs[n]; !given {
			known = append(known, n)
		}
	}
	sort.Strings(known)
	if a.becomeUserAt != nil && a.becomeUser != "" && !a.becomeUserRead {
		a.diags = append(a.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   fmt.Sprintf("The %s task %q cannot run as another user: become_user applies to command tasks and to the owner of the files that the kinds writing files (file, template, directory…) write.", a.Kind, a.Name),
			Subject:  a.becomeUserAt,
		})
	}
	for _, n := range names {
		a.diags = append(a.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   fmt.Sprintf("The %s task %q has no argument named %q.%s", a.Kind, a.Name, n, suggest.DidYouMean(n, known)),
			Subject:  nameRange(a.attrs[n]).Ptr(),
		})
	}
	return a.diags
}

func nameRange(at Attr) hcl.Range {
	if at.NameRange.Filename != "" {
		return at.NameRange
	}
	return at.Range
}

// AddDiagnostics records diagnostics produced elsewhere, such as those of a
// template, which point into their own file rather than at an argument.
func (a *Args) AddDiagnostics(diags hcl.Diagnostics) {
	a.diags = append(a.diags, diags...)
}

// StringMap returns a map-of-strings argument (an object with string values
// is accepted too), nil when absent or unknown.
func (a *Args) StringMap(name string) map[string]string {
	v, ok := a.get(name, cty.Map(cty.String), false)
	if !ok || v.LengthInt() == 0 {
		return nil
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		if e.IsNull() {
			a.Errorf(name, "Argument %q: the value of %q is null.", name, k)
			continue
		}
		out[k] = e.AsString()
	}
	return out
}

// SecretStrings returns the string forms of the secret values found in the
// named arguments (nested ones included), so that a module can scrub them
// from command output it reports. Unknown values are skipped.
func (a *Args) SecretStrings(names ...string) []string {
	var out []string
	for _, n := range names {
		at, ok := a.attrs[n]
		if !ok || !secret.Is(at.Value) {
			continue
		}
		_, pvms := at.Value.UnmarkDeepWithPaths()
		for _, pvm := range pvms {
			if _, secretHere := pvm.Marks[secret.Mark]; !secretHere {
				continue
			}
			leaf, err := pvm.Path.Apply(at.Value)
			if err != nil {
				continue
			}
			out = append(out, leafStrings(leaf)...)
		}
	}
	return out
}

// leafStrings flattens v (marks removed) into the strings it holds.
func leafStrings(v cty.Value) []string {
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsWhollyKnown() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty.IsPrimitiveType():
		s, err := convert.Convert(v, cty.String)
		if err != nil || s.AsString() == "" {
			return nil
		}
		return []string{s.AsString()}
	case ty.IsCollectionType() || ty.IsObjectType() || ty.IsTupleType():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, leafStrings(e)...)
		}
		return out
	}
	return nil
}

// RejectSensitive records a diagnostic for each named argument whose value
// derives from a secret: arguments that name things (paths, users, units)
// appear in summaries and must not be secret.
func (a *Args) RejectSensitive(names ...string) {
	for _, n := range names {
		if a.Sensitive(n) {
			a.Errorf(n, "Argument %q must not derive from a secret: it is shown in plans and logs.", n)
		}
	}
}

// ReadLocal reads a file of the operator's machine, through a.Files when set.
func (a *Args) ReadLocal(path string) ([]byte, error) {
	if a.Files != nil {
		return a.Files.Read(path)
	}
	return os.ReadFile(path)
}
