package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/suggest"
)

// ExtraVar is a variable set on the command line (-e) or in a var file.
type ExtraVar struct {
	Name  string
	Value cty.Value
	// Range is where a var file sets it; empty for -e.
	Range hcl.Range
}

// ParseExtraVar reads -e NAME=VALUE. VALUE is a string, unless it starts as
// an HCL list, object or quoted string does ([…], {…}, "…"): then it is that
// value, so -e 'admin_cidrs=["198.51.100.0/24"]' sets a list. A plain
// string converts to a number or bool where one is needed.
func ParseExtraVar(kv string) (ExtraVar, error) {
	k, v, ok := strings.Cut(kv, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" || !hclsyntax.ValidIdentifier(k) {
		return ExtraVar{}, fmt.Errorf("-e %q: write key=value, with key a variable name", kv)
	}
	if t := strings.TrimSpace(v); t == "" || !strings.ContainsAny(t[:1], "[{\"") {
		return ExtraVar{Name: k, Value: cty.StringVal(v)}, nil
	}
	expr, diags := hclsyntax.ParseExpression([]byte(v), "-e "+k, hcl.InitialPos)
	if !diags.HasErrors() {
		var val cty.Value
		val, diags = expr.Value(nil)
		if !diags.HasErrors() {
			return ExtraVar{Name: k, Value: val}, nil
		}
	}
	return ExtraVar{}, fmt.Errorf("-e %s: %s is not an HCL value: %s (quote a string that starts with [, { or \" as '\"…\"')", k, v, diags[0].Detail)
}

// LoadVarFile reads a var file: NAME = VALUE lines in HCL, or a JSON object
// when the name ends in .json. Values are literals; expressions see no
// variable and call no function.
func (l *Loader) LoadVarFile(path string) ([]ExtraVar, hcl.Diagnostics) {
	var f *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(path, ".json") {
		f, diags = l.parser.ParseJSONFile(path)
	} else {
		f, diags = l.parse(path, "var file")
	}
	if diags.HasErrors() {
		return nil, diags
	}
	attrs, d := f.Body.JustAttributes()
	diags = append(diags, d...)
	var out []ExtraVar
	for _, name := range sortedAttrNames(attrs) {
		a := attrs[name]
		v, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			out = append(out, ExtraVar{Name: name, Value: v, Range: a.NameRange})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Range.Start.Byte < out[j].Range.Start.Byte })
	return out, diags
}

// CheckExtraVars returns a diagnostic for each variable that nothing of the
// run sets or reads as a variable: no variable block or var reference of the
// playbook's roles, no play's vars, no vars of the inventory (defaults,
// groups, hosts). Such a value would change nothing (a misspelt name, as
// app_verison for app_version): from -e it is an error, refused rather than
// ignored; from a var file (shared by several playbooks, say), a warning at
// its line. Each suggests the nearest known name.
func CheckExtraVars(vars []ExtraVar, inv *Inventory, pb *Playbook) hcl.Diagnostics {
	known := map[string]bool{}
	anyName := false
	for _, r := range pb.Roles {
		for _, v := range r.Variables {
			known[v.Name] = true
		}
		u := r.VarUse()
		addKeys(known, u.Names)
		anyName = anyName || u.Any
	}
	for _, p := range pb.Plays {
		addKeys(known, p.Vars)
	}
	addKeys(known, inv.Vars)
	for _, g := range inv.Groups {
		addKeys(known, g.Vars)
	}
	for _, h := range inv.Hosts {
		addKeys(known, h.Vars)
	}
	if anyName {
		return nil // some role reads var by a computed name
	}
	secrets := map[string]bool{}
	for _, s := range inv.Secrets {
		secrets[s.Name] = true
	}
	candidates := make([]string, 0, len(known))
	for k := range known {
		candidates = append(candidates, k)
	}
	sort.Strings(candidates)
	var diags hcl.Diagnostics
	reported := map[string]bool{}
	for _, ev := range vars {
		n := ev.Name
		fromFile := ev.Range.Filename != ""
		if known[n] || (!fromFile && reported[n]) {
			continue
		}
		reported[n] = true
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable",
			Detail: fmt.Sprintf("-e %s: no play, role or inventory of this run declares or reads var.%s, so the value would change nothing.", n, n)}
		if fromFile {
			d.Severity, d.Subject = hcl.DiagWarning, ev.Range.Ptr()
			d.Detail = fmt.Sprintf("No play, role or inventory of this run declares or reads var.%s, so this value changes nothing.", n)
		}
		switch near := suggest.Nearest(n, candidates); {
		case secrets[n]:
			how := "-e does"
			if fromFile {
				how = "a var file does"
			}
			d.Detail += fmt.Sprintf(" %s is a secret of the inventory (secret.%s): %s not set secrets.", n, n, how)
		case near != "":
			d.Detail += fmt.Sprintf(" Did you mean %s?", near)
		}
		diags = append(diags, d)
	}
	return diags
}

func addKeys[V any](set map[string]bool, m map[string]V) {
	for k := range m {
		set[k] = true
	}
}
