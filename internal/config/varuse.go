package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// VarUse is what a role reads of var: the names its expressions and
// templates write as var.NAME (or var["NAME"]). Any is true when some
// expression reads var without naming a variable (var[key], var passed
// whole to a function) or a template a task may render cannot be read:
// then any name may be read.
type VarUse struct {
	Names map[string]bool
	Any   bool
}

// VarUse returns what r reads of var in its tasks' and handlers' arguments,
// its validation conditions, and its templates: every file under
// templates/, and the file of each template task whose source is written
// out as a path elsewhere. Nothing is evaluated.
func (r *Role) VarUse() VarUse {
	u := VarUse{Names: map[string]bool{}}
	for _, t := range append(append([]*Task{}, r.Tasks...), r.Handlers...) {
		for _, a := range t.Attrs {
			u.addExpr(a.Expr)
		}
		u.addExpr(t.When)
		u.addExpr(t.DelegateTo)
		u.addExpr(t.BecomeUser)
		u.addExpr(t.ForEach)
		u.addExpr(t.NotifyEach)
	}
	for _, v := range r.Variables {
		for _, c := range v.Validations {
			u.addExpr(c.Condition)
		}
	}
	// A template that cannot be read or parsed (an error validation
	// reports when a task renders it) may read anything; one that no task
	// names may be a stray file, and is then left out.
	templates := filepath.Join(r.Dir, "templates")
	broken := map[string]bool{}
	err := filepath.WalkDir(templates, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !u.addTemplate(p) {
			broken[p] = true
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		u.Any = true
	}
	for _, t := range r.Tasks {
		if _, ok := t.Attrs["source"]; t.Kind != "template" || !ok {
			continue
		}
		p, ok := templateSource(t, templates)
		if !ok {
			// Computed: one of the files under templates/.
			u.Any = u.Any || len(broken) > 0
			continue
		}
		if !strings.HasPrefix(p, templates+string(filepath.Separator)) && !u.addTemplate(p) {
			broken[p] = true
		}
		u.Any = u.Any || broken[p]
	}
	return u
}

// addTemplate adds what the HCL template at path reads; false when it
// cannot be read or parsed.
func (u *VarUse) addTemplate(path string) bool {
	expr, ok := parseTemplateFile(path)
	if ok {
		u.addExpr(expr)
	}
	return ok
}

func (u *VarUse) addExpr(expr hcl.Expression) {
	refsOf(expr, "var", func(n string) { u.Names[n] = true }, func() { u.Any = true })
}

// parseTemplateFile parses the HCL template at path; false when it cannot
// be read or parsed.
func parseTemplateFile(path string) (hcl.Expression, bool) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	expr, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
	return expr, !diags.HasErrors()
}

// refsOf calls name with each attribute expr reads of the object root
// (root.NAME or root["NAME"]), and anyName when it reads root without
// naming one (root[key], root passed whole). Nothing is evaluated.
func refsOf(expr hcl.Expression, root string, name func(string), anyName func()) {
	if expr == nil {
		return
	}
	for _, tr := range expr.Variables() {
		if tr.RootName() != root {
			continue
		}
		if len(tr) < 2 {
			anyName()
			continue
		}
		switch step := tr[1].(type) {
		case hcl.TraverseAttr:
			name(step.Name)
		case hcl.TraverseIndex:
			if step.Key.Type() == cty.String && step.Key.IsKnown() && !step.Key.IsNull() {
				name(step.Key.AsString())
			} else {
				anyName()
			}
		default:
			anyName()
		}
	}
}
