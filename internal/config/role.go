package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/suggest"
)

// Variable is a role's variable block: a default, overridden by inventory,
// play and -e values, and the checks its value must pass.
type Variable struct {
	Name        string
	Default     cty.Value
	Validations []*Validation
	Range       hcl.Range
}

// Task is a task or handler block. Its arguments stay unevaluated: they are
// evaluated per host, with that host's variables.
type Task struct {
	Kind, Name string
	Role       string
	Attrs      hcl.Attributes // the module's arguments (meta-arguments removed)
	When       hcl.Expression // nil when absent
	Notify     []string
	// DelegateTo, when set, is a host selection (evaluated for the host the
	// task is for): the task runs on those hosts instead, once each.
	DelegateTo hcl.Expression
	// IfChanged gates the task: it runs only when one of these tasks
	// ("kind.name" of the same role, "role/kind.name", or a role name: any
	// of its tasks) has a change when the play starts on the host; it then
	// runs even if its own check finds nothing to do.
	IfChanged      []string
	IfChangedRange hcl.Range
	NotifyRange    hcl.Range
	Range          hcl.Range
	// Control is how the task runs: see control.go.
	Control

	// ForEach, when set, makes the task one instance per key of a map or
	// string of a set (see Instances); NotifyEach is a notify that reads
	// each, evaluated per instance.
	ForEach, NotifyEach hcl.Expression

	notifyExpr, ifChangedExpr hcl.Expression // for diagnostics at one list element
}

// ID names the task in plans: "template.site".
func (t *Task) ID() string { return t.Kind + "." + t.Name }

// Role is roles/NAME/role.hcl, decoded.
type Role struct {
	Name      string
	Dir       string
	Variables []*Variable
	Tasks     []*Task
	Handlers  []*Task
}

// Handler returns the handler named name (its label), or nil.
func (r *Role) Handler(name string) *Task {
	for _, h := range r.Handlers {
		if h.Name == name {
			return h
		}
	}
	return nil
}

var roleSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "task", LabelNames: []string{"kind", "name"}},
		{Type: "handler", LabelNames: []string{"kind", "name"}},
	},
}

// LoadRole decodes the role in dir (dir/role.hcl). kinds lists the task
// kinds that exist; a task of another kind is an error.
func (l *Loader) LoadRole(name, dir string, kinds map[string]bool) (*Role, hcl.Diagnostics) {
	f, diags := l.parse(filepath.Join(dir, "role.hcl"), fmt.Sprintf("role %q", name))
	if diags.HasErrors() {
		return nil, diags
	}
	r := &Role{Name: name, Dir: dir}
	content, d := f.Body.Content(roleSchema)
	diags = append(diags, d...)
	seenVar := map[string]bool{}
	seenTask := map[string]hcl.Range{}
	seenHandler := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			attrs, checks, d := variableBody(b.Body)
			diags = append(diags, d...)
			v := &Variable{Name: b.Labels[0], Default: cty.NullVal(cty.DynamicPseudoType), Range: b.DefRange}
			if seenVar[v.Name] {
				diags = append(diags, errAt(b.LabelRanges[0], "Duplicate variable", fmt.Sprintf("Variable %q is declared twice in role %q.", v.Name, name)))
			}
			seenVar[v.Name] = true
			for n, a := range attrs {
				switch n {
				case "default":
					val, d := a.Expr.Value(Functions())
					diags = append(diags, d...)
					v.Default = val
				case "description":
				default:
					diags = append(diags, errAt(a.NameRange, "Unsupported argument", fmt.Sprintf("A variable block has no argument %q (only default and description, and validation blocks).", n)))
				}
			}
			for _, vb := range checks {
				c, d := decodeValidation(vb)
				diags = append(diags, d...)
				if c != nil {
					v.Validations = append(v.Validations, c)
				}
			}
			r.Variables = append(r.Variables, v)
		case "task", "handler":
			t, d := decodeTask(b, name)
			diags = append(diags, d...)
			if t == nil {
				continue
			}
			diags = append(diags, checkEach(t)...)
			if !kinds[t.Kind] {
				diags = append(diags, errAt(b.LabelRanges[0], "Unknown task kind", fmt.Sprintf("There is no task kind %q.%s Known kinds: %s.", t.Kind, suggest.DidYouMean(t.Kind, suggest.Keys(kinds)), sortedKeys(kinds))))
				continue
			}
			seen := seenTask
			if b.Type == "handler" {
				seen = seenHandler
			}
			key := t.ID()
			if b.Type == "handler" {
				key = t.Name
			}
			if prev, ok := seen[key]; ok {
				what := strings.ToUpper(b.Type[:1]) + b.Type[1:]
				diags = append(diags, errAt(b.DefRange, "Duplicate "+b.Type, fmt.Sprintf("%s %q was already declared at %s.", what, key, l.at(prev))))
				continue
			}
			seen[key] = b.DefRange
			if b.Type == "handler" {
				r.Handlers = append(r.Handlers, t)
			} else {
				r.Tasks = append(r.Tasks, t)
			}
		}
	}
	for _, t := range append(append([]*Task{}, r.Tasks...), r.Handlers...) {
		for i, n := range t.Notify {
			if d := r.CheckNotify(t, n); d != nil {
				d.Subject = elemRange(t.notifyExpr, i, t.NotifyRange).Ptr()
				diags = append(diags, d)
			}
		}
	}
	return r, diags
}

// CheckNotify checks one name that task t notifies: `NAME` (a handler
// of the role: all its instances) or `NAME["KEY"]` (one instance of a
// handler with for_each). The diagnostic has no subject.
func (r *Role) CheckNotify(t *Task, n string) *hcl.Diagnostic {
	base, _, hasKey, ok := SplitInstance(n)
	h := r.Handler(base)
	switch {
	case !ok:
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid notify", Detail: fmt.Sprintf("Task %s notifies %q: write a handler's name, or NAME[\"KEY\"] for one instance of a handler with for_each.", t.ID(), n)}
	case h == nil:
		names := make([]string, len(r.Handlers))
		for i, h := range r.Handlers {
			names[i] = h.Name
		}
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown handler", Detail: fmt.Sprintf("Task %s notifies %q, but role %q has no handler of that name.%s", t.ID(), base, r.Name, suggest.DidYouMean(base, names))}
	case hasKey && h.ForEach == nil:
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid notify", Detail: fmt.Sprintf("Task %s notifies %q, but handler %q has no for_each: notify it as %q.", t.ID(), n, base, base)}
	}
	return nil
}

func decodeTask(b *hcl.Block, role string) (*Task, hcl.Diagnostics) {
	attrs, diags := b.Body.JustAttributes()
	t := &Task{Kind: b.Labels[0], Name: b.Labels[1], Role: role, Attrs: hcl.Attributes{}, Range: b.DefRange}
	for n, a := range attrs {
		if d, ok := decodeControl(t, b.Type == "handler", n, a); ok {
			diags = append(diags, d...)
			continue
		}
		switch n {
		case "when":
			t.When = a.Expr
		case "delegate_to":
			t.DelegateTo = a.Expr
		case "for_each":
			t.ForEach = a.Expr
		case "if_changed":
			v, d := a.Expr.Value(nil)
			diags = append(diags, d...)
			t.IfChangedRange, t.ifChangedExpr = a.Expr.Range(), a.Expr
			if d.HasErrors() {
				continue
			}
			refs, ok := stringList(v, false)
			if !ok {
				diags = append(diags, errAt(a.Expr.Range(), "Invalid if_changed", "if_changed is a list of task references: \"kind.name\", \"role/kind.name\" or a role name."))
			}
			t.IfChanged = refs
		case "notify":
			if readsEach(a.Expr) {
				t.NotifyRange, t.NotifyEach = a.Expr.Range(), a.Expr
				continue
			}
			v, d := a.Expr.Value(nil)
			diags = append(diags, d...)
			t.NotifyRange, t.notifyExpr = a.Expr.Range(), a.Expr
			if d.HasErrors() {
				continue
			}
			names, ok := stringList(v, true)
			if !ok {
				diags = append(diags, errAt(a.Expr.Range(), "Invalid notify", "notify is a handler name or a list of handler names."))
			}
			t.Notify = names
		default:
			t.Attrs[n] = a
		}
	}
	return t, diags
}

// stringList reads a list of strings (or, when single, also one string).
// null is an empty list; ok is false for anything else, such as a null
// element, a number or an object.
func stringList(v cty.Value, single bool) (out []string, ok bool) {
	if v.IsNull() {
		return nil, true
	}
	if !v.IsWhollyKnown() || v.ContainsMarked() {
		return nil, false
	}
	ty := v.Type()
	if single && ty == cty.String {
		return []string{v.AsString()}, true
	}
	if !ty.IsListType() && !ty.IsTupleType() && !ty.IsSetType() {
		return nil, false
	}
	for _, e := range v.AsValueSlice() {
		if e.IsNull() || e.Type() != cty.String {
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

// FindRole returns the folder of the role name: the first of searchDirs
// holding name/role.hcl.
func FindRole(name string, searchDirs []string) (string, bool) {
	for _, d := range searchDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(filepath.Join(p, "role.hcl")); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}
