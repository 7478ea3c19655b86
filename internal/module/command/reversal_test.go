package command

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func TestUndoRunsInChdirWithEnv(t *testing.T) {
	dir := t.TempDir()
	m := build(t, map[string]cty.Value{
		"command": cty.StringVal(`echo "$GREETING" > out`),
		"undo":    cty.StringVal(`printf '%s' "$GREETING" > seen; rm -f out`),
		"creates": cty.StringVal("out"),
		"chdir":   cty.StringVal(dir),
		"env":     cty.MapVal(map[string]cty.Value{"GREETING": cty.StringVal("it's $HOME")}),
	})
	if ch := moduletest.Check(t, m); ch == nil {
		t.Fatal("no change")
	}
	backup, undo, after := moduletest.Reversal(t, m, t.TempDir())
	if backup != "" || undo == "" || after != "" {
		t.Fatalf("backup %q undo %q after %q", backup, undo, after)
	}
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		moduletest.MustRunFragment(t, "undo", undo)
		if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
			t.Fatalf("undo did not remove out: %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "seen")); string(b) != "it's $HOME" {
			t.Fatalf("undo saw GREETING=%q", b)
		}
	}
}

// Without undo, a command cannot be undone: all three fragments are empty.
func TestNoUndoIsIrreversible(t *testing.T) {
	m := build(t, map[string]cty.Value{"command": cty.StringVal("true")})
	m.Check(module.Probed{})
	if b, u, a := moduletest.Reversal(t, m, t.TempDir()); b != "" || u != "" || a != "" {
		t.Errorf("backup %q undo %q after %q", b, u, a)
	}
}

func TestUndoArgErrors(t *testing.T) {
	const pw = "s3cr3t"
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"secret undo": {map[string]cty.Value{"command": cty.StringVal("x"), "undo": secret.Wrap(cty.StringVal("y " + pw))}, "must not derive from a secret"},
		"secret env": {map[string]cty.Value{"command": cty.StringVal("x"), "undo": cty.StringVal("y"),
			"env": cty.MapVal(map[string]cty.Value{"PW": secret.Wrap(cty.StringVal(pw)), "A": cty.StringVal("1")})}, "env that derives from a secret"},
		"secret chdir": {map[string]cty.Value{"command": cty.StringVal("x"), "undo": cty.StringVal("y"), "chdir": secret.Wrap(cty.StringVal("/srv"))}, "chdir that derives from a secret"},
		"empty undo":   {map[string]cty.Value{"command": cty.StringVal("x"), "undo": cty.StringVal(" ")}, "undo must not be empty"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("command", "c", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
		})
	}
	// A secret env without undo is fine, as before.
	moduletest.MustBuild(t, New, moduletest.Args("command", "c", map[string]cty.Value{
		"command": cty.StringVal("x"), "env": cty.MapVal(map[string]cty.Value{"PW": secret.Wrap(cty.StringVal(pw))}),
	}))
}
