package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/secret"
)

// evalString evaluates an HCL expression with skiff's functions and var.
func evalString(t *testing.T, src string, vars map[string]cty.Value) cty.Value {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx := Functions()
	ctx.Variables = map[string]cty.Value{"var": cty.ObjectVal(vars)}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return v
}

// shellquote makes any value one word that sh takes literally: the
// command below prints it back unchanged, and runs nothing it holds.
func TestShellquoteRoundTrips(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	for _, s := range []string{
		"",
		"1.0.0",
		"it's",
		"'",
		"''",
		"a\nb",
		"\n",
		"1.0'; touch " + pwned + "; echo '",
		"$(touch " + pwned + ") `touch " + pwned + "` ${HOME} $HOME \\ \" * ? [a] ~ # & | ; < > ( ) { }",
		"-n",
	} {
		v := evalString(t, `"printf '%s' ${shellquote(var.s)}"`, map[string]cty.Value{"s": cty.StringVal(s)})
		out, err := exec.Command("sh", "-c", v.AsString()).Output()
		if err != nil {
			t.Fatalf("sh -c %q: %v", v.AsString(), err)
		}
		if string(out) != s {
			t.Errorf("shellquote(%q) read back as %q (command %q)", s, out, v.AsString())
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("a quoted value ran a command")
	}
}

func TestShellquoteValues(t *testing.T) {
	for src, want := range map[string]string{
		`shellquote("")`:     `''`,
		`shellquote("it's")`: `'it'\''s'`,
		`shellquote("a\nb")`: "'a\nb'",
		`shellquote(5)`:      `'5'`,
	} {
		if got := evalString(t, src, nil).AsString(); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
	// A secret stays secret once quoted.
	v := evalString(t, `shellquote(var.pw)`, map[string]cty.Value{"pw": secret.Wrap(cty.StringVal("hunter2"))})
	if !secret.Is(v) {
		t.Error("shellquote dropped the secret mark")
	}
}

// shellArgs are the task arguments that a root shell runs as they are.
var shellArgs = map[string]bool{"command": true, "unless": true, "undo": true, "validate": true}

// Every value a shipped role puts into a shell command goes through
// shellquote: a template's interpolations are shellquote calls only.
func TestShippedRolesQuoteWhatReachesAShell(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../../roles/*/role.hcl", "../../bench/*/roles/*/role.hcl"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d roles: %v", len(files), files)
	}
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := hclsyntax.ParseConfig(splitOneLineBlocks(src, path), path, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			if b.Type != "task" && b.Type != "handler" {
				continue
			}
			for name, a := range b.Body.Attributes {
				if !shellArgs[name] {
					continue
				}
				for _, part := range unquotedParts(a.Expr) {
					r := part.Range()
					t.Errorf("%s:%d: %s %s.%s: %s reaches the shell without shellquote", path, r.Start.Line, b.Type, b.Labels[0], b.Labels[1], string(r.SliceBytes(src)))
				}
			}
		}
	}
}

// unquotedParts returns the parts of expr that are neither literal text
// nor a shellquote call.
func unquotedParts(expr hclsyntax.Expression) []hclsyntax.Expression {
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return nil
	case *hclsyntax.TemplateWrapExpr:
		return unquotedParts(e.Wrapped)
	case *hclsyntax.FunctionCallExpr:
		if e.Name == "shellquote" {
			return nil
		}
	case *hclsyntax.TemplateExpr:
		var out []hclsyntax.Expression
		for _, p := range e.Parts {
			out = append(out, unquotedParts(p)...)
		}
		return out
	}
	return []hclsyntax.Expression{expr}
}

func TestShippedRolesQuoteCheckFindsUnquoted(t *testing.T) {
	src := []byte(`"grep -vx '${var.v}' | tail -n +${shellquote(var.n)}"`)
	expr, diags := hclsyntax.ParseExpression(src, "x.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := unquotedParts(expr)
	if len(got) != 1 || string(got[0].Range().SliceBytes(src)) != "var.v" {
		t.Errorf("unquoted parts: %v", got)
	}
}
