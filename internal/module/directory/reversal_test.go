package directory

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// roundTrip: check, Reversal, backup, apply, then undo twice; watch is the
// path whose state (a whole tree) must come back as it was.
func roundTrip(t *testing.T, watch string, vals map[string]cty.Value) (backup, undo string) {
	t.Helper()
	before := moduletest.PathState(t, watch)
	m := build(t, vals)
	if ch := moduletest.Check(t, m); ch == nil {
		t.Fatal("no change")
	}
	backup, undo, after := moduletest.Reversal(t, m, filepath.Join(t.TempDir(), "3"))
	if undo == "" || after != "" {
		t.Fatalf("undo %q, after %q", undo, after)
	}
	moduletest.MustRunFragment(t, "backup", backup)
	if got := moduletest.PathState(t, watch); got != before {
		t.Fatalf("backup changed the tree:\n%s", got)
	}
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if moduletest.PathState(t, watch) == before {
		t.Fatal("apply changed nothing")
	}
	for i := range 2 {
		moduletest.MustRunFragment(t, "undo", undo)
		if got := moduletest.PathState(t, watch); got != before {
			t.Fatalf("after undo #%d:\n%s\nwant:\n%s", i+1, got, before)
		}
	}
	return backup, undo
}

func TestUndoCreateWithParents(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "keep"), []byte("k"), 0o644)
	// mkdir -p makes a and a/b too: undo removes a, and only a.
	roundTrip(t, root, map[string]cty.Value{"path": cty.StringVal(filepath.Join(root, "a", "b", "c")), "mode": cty.StringVal("0700")})
}

func TestUndoCreateRemovesContent(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "app")
	before := moduletest.PathState(t, root)
	m := build(t, map[string]cty.Value{"path": cty.StringVal(p)})
	moduletest.Check(t, m)
	backup, undo, _ := moduletest.Reversal(t, m, t.TempDir())
	moduletest.MustRunFragment(t, "backup", backup)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p, "later"), []byte("x"), 0o644) // written by a later task
	moduletest.MustRunFragment(t, "undo", undo)
	if got := moduletest.PathState(t, root); got != before {
		t.Errorf("after undo:\n%s", got)
	}
}

// A directory that exists when the backup runs is never removed: undo
// sets back the mode that Apply changed.
func TestUndoCreateKeepsAnExistingDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app")
	m := build(t, map[string]cty.Value{"path": cty.StringVal(p)})
	moduletest.Check(t, m) // absent at check time
	os.Mkdir(p, 0o700)     // created by someone else before the backup
	os.WriteFile(filepath.Join(p, "data"), []byte("precious"), 0o644)
	before := moduletest.PathState(t, p)
	backup, undo, _ := moduletest.Reversal(t, m, t.TempDir())
	moduletest.MustRunFragment(t, "backup", backup)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if moduletest.PathState(t, p) == before {
		t.Fatal("apply did not set the mode")
	}
	moduletest.MustRunFragment(t, "undo", undo)
	if got := moduletest.PathState(t, p); got != before {
		t.Errorf("after undo:\n%s\nwant:\n%s", got, before)
	}
}

// A tampered record cannot make undo remove something else.
func TestUndoCreateRefusesAForeignRecord(t *testing.T) {
	root := t.TempDir()
	other := filepath.Join(root, "other")
	os.Mkdir(other, 0o755)
	m := build(t, map[string]cty.Value{"path": cty.StringVal(filepath.Join(root, "app"))})
	moduletest.Check(t, m)
	dir := t.TempDir()
	_, undo, _ := moduletest.Reversal(t, m, dir)
	os.WriteFile(filepath.Join(dir, backupCreated), []byte(other+"\n"), 0o600)
	res := moduletest.RunFragment(t, undo)
	if res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "not "+filepath.Join(root, "app")) {
		t.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("foreign directory removed")
	}
}

func TestUndoModeAndOwner(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d")
	os.Mkdir(p, 0o755)
	os.Chmod(p, 0o2755|os.ModeSetgid)
	vals := map[string]cty.Value{"path": cty.StringVal(p), "mode": cty.StringVal("0700")}
	if os.Geteuid() == 0 {
		vals["owner"], vals["group"] = cty.StringVal("65534"), cty.StringVal("65534")
	}
	roundTrip(t, p, vals)

	// And the other way: setgid added, then taken away by undo.
	os.Chmod(p, 0o750)
	roundTrip(t, p, map[string]cty.Value{"path": cty.StringVal(p), "mode": cty.StringVal("2770")})
}

func TestUndoRemoveTree(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "-data") // a name tar could take for an option
	os.MkdirAll(filepath.Join(p, "sub", "deep"), 0o750)
	os.WriteFile(filepath.Join(p, "sub", "f"), []byte("content\n"), 0o600)
	os.WriteFile(filepath.Join(p, "bin"), []byte("\x00\x01"), 0o755)
	os.Symlink("sub/f", filepath.Join(p, "link"))
	os.Chmod(filepath.Join(p, "sub"), 0o1777|os.ModeSticky)
	if os.Geteuid() == 0 {
		os.Lchown(filepath.Join(p, "sub", "f"), 65534, 65534)
	}
	roundTrip(t, root, map[string]cty.Value{"path": cty.StringVal(p), "state": cty.StringVal("absent")})
	if m, _ := filepath.Glob(filepath.Join(root, ".skiff-*")); len(m) > 0 {
		t.Errorf("temporary left: %v", m)
	}
}

// A removal cut short leaves part of the tree: undo puts back what is
// missing and keeps what is there.
func TestUndoPartialRemoval(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "data")
	os.MkdirAll(filepath.Join(p, "a"), 0o755)
	os.WriteFile(filepath.Join(p, "a", "one"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(p, "two"), []byte("2"), 0o644)
	before := moduletest.PathState(t, root)
	m := build(t, map[string]cty.Value{"path": cty.StringVal(p), "state": cty.StringVal("absent")})
	moduletest.Check(t, m)
	backup, undo, _ := moduletest.Reversal(t, m, t.TempDir())
	moduletest.MustRunFragment(t, "backup", backup)
	os.RemoveAll(filepath.Join(p, "a"))
	moduletest.MustRunFragment(t, "undo", undo)
	if got := moduletest.PathState(t, root); got != before {
		t.Errorf("after undo:\n%s\nwant:\n%s", got, before)
	}
}
