package template

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// TestUndo: a sensitive template replaces a live file (mode 0640); undo
// brings back the old file byte for byte with its mode, twice over, and no
// fragment holds the old or the new secret.
func TestUndo(t *testing.T) {
	const pw, oldPW = "Tr0ub4dor&3", "c0rrect-h0rse"
	r := role(t, map[string]string{"my.cnf.tftpl": "[client]\npassword=${var.pw}\n"})
	dest := filepath.Join(t.TempDir(), "my.cnf")
	os.WriteFile(dest, []byte("[client]\npassword="+oldPW+"\n"), 0o640)
	os.Chmod(dest, 0o640)
	before := moduletest.PathState(t, dest)

	m := moduletest.MustBuild(t, New, args(r, "my.cnf.tftpl", dest, evalCtx(map[string]cty.Value{"pw": secret.Wrap(cty.StringVal(pw))})))
	if ch := moduletest.Check(t, m); ch == nil {
		t.Fatal("no change")
	}
	backup, undo, after := moduletest.Reversal(t, m, filepath.Join(t.TempDir(), "7"))
	moduletest.NoSecretIn(t, pw, backup, undo, after)
	moduletest.NoSecretIn(t, oldPW, backup, undo, after)
	moduletest.MustRunFragment(t, "backup", backup)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if moduletest.PathState(t, dest) == before {
		t.Fatal("apply changed nothing")
	}
	for range 2 {
		moduletest.MustRunFragment(t, "undo", undo)
		if got := moduletest.PathState(t, dest); got != before {
			t.Fatalf("after undo:\n%s\nwant:\n%s", got, before)
		}
	}
}
