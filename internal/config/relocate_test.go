package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// One-line blocks hold several arguments on one line; the ranges a loaded
// role gives, to a diagnostic made during a run as much as at load, are
// those of the file as written, with no need to read it again.
func TestRangesAfterOneLineBlocksAreAsWritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := `task "command" "a" { cmd = "true"  creates = "/a" }
task "command" "b" { cmd = "true"  creates = "/b" }
task "command" "c" {
  cmd = "é${var.missing}"
}
`
	if err := os.WriteFile(filepath.Join(dir, "role.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, diags := NewLoader().LoadRole("r", dir, roleKinds)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := r.Tasks[1].Range.Start; got.Line != 2 || got.Column != 1 {
		t.Errorf("task b starts at %d,%d, want 2,1", got.Line, got.Column)
	}
	ctx := Functions()
	ctx.Variables = map[string]cty.Value{"var": cty.EmptyObjectVal}
	_, d := r.Tasks[2].Attrs["cmd"].Expr.Value(ctx)
	if !d.HasErrors() || d[0].Subject == nil {
		t.Fatalf("want an error for var.missing: %v", d)
	}
	if got := d[0].Subject.Start; got.Line != 4 || got.Column != 16 {
		t.Errorf("the run-time error points at %d,%d, want 4,16 (the file as written)", got.Line, got.Column)
	}
}
