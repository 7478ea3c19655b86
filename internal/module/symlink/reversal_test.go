package symlink

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func TestUndo(t *testing.T) {
	for name, tc := range map[string]struct {
		setup func(p string)
		vals  map[string]cty.Value
	}{
		"create": {func(string) {}, map[string]cty.Value{"target": cty.StringVal("releases/2")}},
		"relink": {func(p string) { os.Symlink("releases/1", p) }, map[string]cty.Value{"target": cty.StringVal("releases/2")}},
		"remove": {func(p string) { os.Symlink("/etc/nowhere", p) }, map[string]cty.Value{"state": cty.StringVal("absent")}},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "releases", "1"), 0o755)
			os.MkdirAll(filepath.Join(root, "releases", "2"), 0o755)
			p := filepath.Join(root, "current")
			tc.setup(p)
			before := moduletest.PathState(t, root)
			tc.vals["path"] = cty.StringVal(p)
			m := build(t, tc.vals)
			if ch := moduletest.Check(t, m); ch == nil {
				t.Fatal("no change")
			}
			backup, undo, after := moduletest.Reversal(t, m, filepath.Join(t.TempDir(), "1"))
			if undo == "" || after != "" {
				t.Fatalf("undo %q after %q", undo, after)
			}
			moduletest.MustRunFragment(t, "backup", backup)
			if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
				t.Fatal(err)
			}
			if moduletest.PathState(t, root) == before {
				t.Fatal("apply changed nothing")
			}
			for range 2 {
				// The link points to a directory: undo must replace the
				// link, not write into releases/2.
				moduletest.MustRunFragment(t, "undo", undo)
				if got := moduletest.PathState(t, root); got != before {
					t.Fatalf("after undo:\n%s\nwant:\n%s", got, before)
				}
			}
		})
	}
}
