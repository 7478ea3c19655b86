package template

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/secret"
)

// role writes templates into a fresh role folder and returns it.
func role(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, "templates", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func args(roleDir, source, dest string, eval *hcl.EvalContext) *module.Args {
	a := moduletest.Args("template", "site", map[string]cty.Value{
		"source": cty.StringVal(source), "path": cty.StringVal(dest), "mode": cty.StringVal("0644"),
	})
	a.RoleDir, a.Eval = roleDir, eval
	return a
}

func evalCtx(vars map[string]cty.Value) *hcl.EvalContext {
	return &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}
}

const site = `server {
  listen ${var.port};
%{ for n in var.names ~}
  server_name ${n};
%{ endfor ~}
}
`

func TestRenderAndConverge(t *testing.T) {
	r := role(t, map[string]string{"site.conf.tftpl": site})
	dest := filepath.Join(t.TempDir(), "site.conf")
	ctx := evalCtx(map[string]cty.Value{"port": cty.NumberIntVal(8443), "names": cty.ListVal([]cty.Value{cty.StringVal("a.example"), cty.StringVal("b.example")})})
	ch := moduletest.Converge(t, func() module.Module { return moduletest.MustBuild(t, New, args(r, "site.conf.tftpl", dest, ctx)) })
	if ch.Action != plan.Create || !strings.Contains(ch.Diff, "+  listen 8443;") {
		t.Errorf("change = %+v", ch)
	}
	b, _ := os.ReadFile(dest)
	if want := "server {\n  listen 8443;\n  server_name a.example;\n  server_name b.example;\n}\n"; string(b) != want {
		t.Errorf("rendered:\n%s", b)
	}
}

func TestSensitiveTemplate(t *testing.T) {
	const pw = "Tr0ub4dor&3"
	r := role(t, map[string]string{"my.cnf.tftpl": "[client]\npassword=${var.pw}\n"})
	dest := filepath.Join(t.TempDir(), "my.cnf")
	os.WriteFile(dest, []byte("[client]\npassword=old\n"), 0o600)
	ctx := evalCtx(map[string]cty.Value{"pw": secret.Wrap(cty.StringVal(pw))})
	mk := func() module.Module { return moduletest.MustBuild(t, New, args(r, "my.cnf.tftpl", dest, ctx)) }
	m := mk()
	ch, err := m.Check(moduletest.Probe(t, m))
	moduletest.NoSecret(t, pw, ch, err)
	if err != nil || ch == nil || !ch.Sensitive || ch.Diff != "" {
		t.Fatalf("change = %+v, %v", ch, err)
	}
	moduletest.Converge(t, mk)
	b, _ := os.ReadFile(dest)
	if string(b) != "[client]\npassword="+pw+"\n" {
		t.Errorf("rendered %q", b)
	}
}

func TestTemplateDiagnostics(t *testing.T) {
	r := role(t, map[string]string{
		"syntax.tftpl":  "line one\n${ 1 + } x\n",
		"unknown.tftpl": "ok\nport ${var.nope}\n",
		"number.tftpl":  "${1}",
	})
	dest := "/etc/x"
	ctx := evalCtx(map[string]cty.Value{"port": cty.NumberIntVal(1)})
	for name, line := range map[string]int{"syntax.tftpl": 2, "unknown.tftpl": 2} {
		_, diags := moduletest.Build(New, args(r, name, dest, ctx))
		if !diags.HasErrors() {
			t.Fatalf("%s: no diagnostics", name)
		}
		d := diags[0]
		if d.Subject == nil || d.Subject.Filename != filepath.Join(r, "templates", name) || d.Subject.Start.Line != line {
			t.Errorf("%s: diagnostic %v at %v", name, d, d.Subject)
		}
	}
	// A template that renders a number still gives a string.
	if _, diags := moduletest.Build(New, args(r, "number.tftpl", dest, nil)); diags.HasErrors() {
		t.Errorf("number template: %v", diags)
	}

	_, diags := moduletest.Build(New, args(r, "missing.tftpl", dest, ctx))
	moduletest.DiagsContain(t, diags, filepath.Join(r, "templates", "missing.tftpl"))

	a := moduletest.Args("template", "site", map[string]cty.Value{"source": cty.StringVal("number.tftpl"), "path": cty.StringVal(dest), "content": cty.StringVal("x")})
	a.RoleDir = r
	_, diags = moduletest.Build(New, a)
	moduletest.DiagsContain(t, diags, `no argument named "content"`)
}

func TestUnknownRender(t *testing.T) {
	r := role(t, map[string]string{"t.tftpl": "host ${var.ip}\n"})
	ctx := evalCtx(map[string]cty.Value{"ip": cty.UnknownVal(cty.String)})
	m, diags := moduletest.Build(New, args(r, "t.tftpl", "/etc/x", ctx))
	if diags.HasErrors() {
		t.Fatalf("diags: %v", diags)
	}
	tm := m.(*Template)
	if tm.Known {
		t.Errorf("unknown render counted as known")
	}
	_ = m.Probe()
	if _, err := m.Check(module.Probed{Stdout: []byte("type=absent\nparent=1\n")}); err == nil {
		t.Errorf("check of unknown content should fail, not guess")
	}
}
