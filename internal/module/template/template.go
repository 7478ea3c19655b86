// Package template is the "template" task kind: a file rendered from an HCL
// template in the role's templates/ folder, then managed like a file.
//
//	task "template" "site" {
//	  source   = "site.conf.tftpl"      # roles/NAME/templates/
//	  path     = "/etc/nginx/sites-enabled/foobar.conf"
//	  owner = "root"  group = "root"  mode = "0644"
//	  validate = "nginx -t -c %s"
//	}
//
// The template sees the task's evaluation context (variables, host facts,
// functions). A result that uses a secret is sensitive: no diff is shown.
package template

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/secret"
)

// Template is one "template" task. All the work after rendering is filestate.File's.
type Template struct {
	*filestate.File
}

var (
	_ module.Module     = (*Template)(nil)
	_ module.Reversible = (*Template)(nil)
)

// New is the module.Factory of the "template" kind.
func New(a *module.Args) module.Module {
	s := filestate.Spec{
		Path:     filestate.PathArg(a, "path"),
		Meta:     filestate.MetaArgs(a),
		Validate: filestate.ValidateArg(a),
	}
	a.RejectSensitive("source")
	if src := a.String("source", true); src != "" {
		s.Content, s.Known, s.Sensitive = render(a, src)
		s.Source = "template " + templatePath(a, src)
	}
	return &Template{File: filestate.New(s)}
}

// render reads and evaluates the template. Its diagnostics (syntax errors,
// unknown variables) point into the template file. known is false when the
// result depends on values not known yet (validate mode) or rendering failed.
func render(a *module.Args, src string) (content []byte, known, sensitive bool) {
	p := templatePath(a, src)
	text, err := a.ReadLocal(p)
	if err != nil {
		if os.IsNotExist(err) {
			a.Errorf("source", "Template %s not found (looked for %s).", src, p)
		} else {
			a.Errorf("source", "Cannot read template %s: %s.", p, err)
		}
		return nil, false, false
	}
	expr, diags := parse(text, p, a.Files != nil)
	if diags.HasErrors() {
		a.AddDiagnostics(diags)
		return nil, false, false
	}
	ctx := a.Eval
	if ctx == nil {
		ctx = &hcl.EvalContext{}
	}
	v, diags := expr.Value(ctx)
	a.AddDiagnostics(diags)
	if diags.HasErrors() {
		return nil, false, false
	}
	sensitive = secret.Is(v)
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		return nil, false, sensitive
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil || sv.IsNull() {
		a.Errorf("source", "Template %s must render to a string.", p)
		return nil, false, sensitive
	}
	return []byte(sv.AsString()), true, sensitive
}

// templatePath is the local path of template src.
func templatePath(a *module.Args, src string) string {
	if filepath.IsAbs(src) {
		return src
	}
	return filepath.Join(a.RoleDir, "templates", src)
}

// parsed holds templates parsed in this run, by their text's backing array
// (module.LocalFiles reads a template once per run and shares the bytes
// with every host's task; nobody modifies them) and path: a template is
// parsed once, not once per host and again by validation. Parsed
// expressions are only read when evaluated, so hosts share them.
var parsed sync.Map // parsedKey -> parsedTemplate

type parsedKey struct {
	first *byte
	n     int
	path  string
}

type parsedTemplate struct {
	expr  hclsyntax.Expression
	diags hcl.Diagnostics
}

// parse parses text, remembering it when shared says the bytes are a
// LocalFiles entry (kept for the run; other callers' bytes are not).
func parse(text []byte, path string, shared bool) (hclsyntax.Expression, hcl.Diagnostics) {
	if len(text) == 0 || !shared {
		return hclsyntax.ParseTemplate(text, path, hcl.InitialPos)
	}
	k := parsedKey{&text[0], len(text), path}
	if v, ok := parsed.Load(k); ok {
		t := v.(parsedTemplate)
		return t.expr, t.diags
	}
	expr, diags := hclsyntax.ParseTemplate(text, path, hcl.InitialPos)
	parsed.Store(k, parsedTemplate{expr, diags})
	return expr, diags
}
