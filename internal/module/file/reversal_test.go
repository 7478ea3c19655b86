package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// roundTrip does what the engine does for one change and its rollback:
// probe, check, Reversal, backup, apply; then undo (twice) must bring p
// back to its state from before. applyErr is a substring of the error
// Apply must fail with ("" for success).
func roundTrip(t *testing.T, p string, vals map[string]cty.Value, applyErr string) (backup, undo, after string) {
	t.Helper()
	before := moduletest.PathState(t, p)
	m := build(t, vals)
	if ch := moduletest.Check(t, m); ch == nil {
		t.Fatal("no change")
	}
	backup, undo, after = moduletest.Reversal(t, m, filepath.Join(t.TempDir(), "runs", "1"))
	if undo == "" || after != "" {
		t.Fatalf("undo %q, after %q", undo, after)
	}
	moduletest.MustRunFragment(t, "backup", backup)
	if got := moduletest.PathState(t, p); got != before {
		t.Fatalf("backup changed the file:\n%s\nwas:\n%s", got, before)
	}
	err := m.Apply(context.Background(), &transporttest.Local{})
	switch {
	case applyErr == "" && err != nil:
		t.Fatalf("apply: %v", err)
	case applyErr != "" && (err == nil || !strings.Contains(err.Error(), applyErr)):
		t.Fatalf("apply error = %v, want %q", err, applyErr)
	case applyErr == "" && moduletest.PathState(t, p) == before:
		t.Fatalf("apply changed nothing")
	}
	for i := range 2 {
		moduletest.MustRunFragment(t, "undo", undo)
		if got := moduletest.PathState(t, p); got != before {
			t.Fatalf("after undo #%d:\n%s\nwant:\n%s", i+1, got, before)
		}
	}
	noTemps(t, filepath.Dir(p))
	return backup, undo, after
}

func TestUndoUpdate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.conf")
	os.WriteFile(p, []byte("old\nline\n"), 0o640)
	os.Chmod(p, 0o640)
	roundTrip(t, p, map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("new\n"), "mode": cty.StringVal("0600")}, "")
}

func TestUndoCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.conf")
	roundTrip(t, p, map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("x\n")}, "")
}

func TestUndoRemove(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gone")
	os.WriteFile(p, []byte("\x00binary\xff"), 0o751)
	os.Chmod(p, 0o4751) // setuid survives too
	roundTrip(t, p, map[string]cty.Value{"path": cty.StringVal(p), "state": cty.StringVal("absent")}, "")
}

func TestUndoRemoveSymlink(t *testing.T) {
	p := filepath.Join(t.TempDir(), "link")
	os.Symlink("../elsewhere", p)
	roundTrip(t, p, map[string]cty.Value{"path": cty.StringVal(p), "state": cty.StringVal("absent")}, "")
}

func TestUndoModeAndOwnerOnly(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	os.WriteFile(p, []byte("same\n"), 0o644)
	vals := map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("same\n"), "mode": cty.StringVal("0400")}
	if os.Geteuid() == 0 {
		vals["owner"], vals["group"] = cty.StringVal("65534"), cty.StringVal("65534")
	}
	roundTrip(t, p, vals, "")
}

func TestUndoAfterFailedValidate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "site.conf")
	os.WriteFile(p, []byte("good old\n"), 0o644)
	roundTrip(t, p, map[string]cty.Value{
		"path": cty.StringVal(p), "content": cty.StringVal("bad new\n"),
		"validate": cty.StringVal("grep -q good %s"),
	}, "rejected the new content")
}

func TestUndoSensitiveContent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "creds")
	const pw, oldPW = "n3w-s3cr3t", "0ld-s3cr3t"
	os.WriteFile(p, []byte("password="+oldPW+"\n"), 0o600)
	backup, undo, after := roundTrip(t, p, map[string]cty.Value{
		"path": cty.StringVal(p), "content": secret.Wrap(cty.StringVal("password=" + pw + "\n")),
	}, "")
	moduletest.NoSecretIn(t, pw, backup, undo, after)
	moduletest.NoSecretIn(t, oldPW, backup, undo, after)
}

func TestUndoWithoutBackupFails(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	os.WriteFile(p, []byte("keep\n"), 0o644)
	m := build(t, map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("y\n")})
	moduletest.Check(t, m)
	_, undo, _ := moduletest.Reversal(t, m, t.TempDir())
	res := moduletest.RunFragment(t, undo)
	if res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "no backup of "+p) {
		t.Errorf("undo without backup: exit %d, %s", res.ExitCode, res.Stderr)
	}
	if readFile(t, p) != "keep\n" {
		t.Errorf("undo without backup touched the file")
	}
}

// A file that did not exist is removed by undo, but what took its place
// since, if not a file, is left alone.
func TestUndoCreateLeavesADirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new")
	m := build(t, map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("x")})
	moduletest.Check(t, m)
	backup, undo, _ := moduletest.Reversal(t, m, t.TempDir())
	moduletest.MustRunFragment(t, "backup", backup)
	os.Mkdir(p, 0o755)
	if res := moduletest.RunFragment(t, undo); res.ExitCode == 0 {
		t.Errorf("undo succeeded over a directory")
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		t.Errorf("directory touched: %v", err)
	}
}

// Paths reach the fragments quoted: a name full of shell syntax is taken
// literally.
func TestUndoOddName(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "it's $(touch PWNED) `touch PWNED` \"x\"")
	os.WriteFile(p, []byte("old"), 0o644)
	roundTrip(t, p, map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("new")}, "")
	if _, err := os.Stat("PWNED"); err == nil { // the fragments run in the test's folder
		os.Remove("PWNED")
		t.Fatal("a fragment ran part of the path")
	}
}
