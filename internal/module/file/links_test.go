package file

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

// nobody is a uid that is not root: the owner of links "another user"
// planted.
const nobody = 65534

// victim is a root-only file that a planted link points at; it must never
// change.
func victim(t *testing.T) string {
	t.Helper()
	v := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(v, []byte("root:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

func unchanged(t *testing.T, v string) {
	t.Helper()
	fi, err := os.Lstat(v)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 || readFile(t, v) != "root:secret\n" {
		t.Fatalf("%s changed: mode %v, content %q", v, fi.Mode(), readFile(t, v))
	}
}

// A target swapped for a symlink between the probe and an owner/mode fix:
// the fix must not reach the link's target.
func TestModeFixNeverFollowsASwappedLink(t *testing.T) {
	v := victim(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(p, []byte("key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := build(t, map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("key\n"), "mode": cty.StringVal("0640")})
	if ch := moduletest.Check(t, m); ch == nil || !strings.Contains(ch.Summary, "mode 0644 -> 0640") {
		t.Fatalf("change = %+v", ch)
	}
	// Between the probe and the apply, the file becomes a link.
	os.Remove(p)
	if err := os.Symlink(v, p); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	unchanged(t, v)
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 || readFile(t, p) != "key\n" {
		t.Fatalf("target: %v %v", fi, err)
	}
	noTemps(t, dir)
}

// A folder on the way to the target replaced by another user's symlink:
// nothing is written through it.
func TestNoWriteThroughAnotherUsersLink(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to plant a link owned by another user")
	}
	home := t.TempDir()
	secretDir := t.TempDir() // stands for /root/.ssh
	link := filepath.Join(home, ".ssh")
	if err := os.Symlink(secretDir, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(link, "authorized_keys")
	m := build(t, map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("attacker key\n")})
	moduletest.Check(t, m)
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "symbolic link owned by uid 65534") {
		t.Fatalf("apply error = %v", err)
	}
	if ents, _ := os.ReadDir(secretDir); len(ents) != 0 {
		t.Fatalf("written through the link: %v", ents)
	}

	// A link root owns (as /var/run or /lib) is followed.
	if err := os.Lchown(link, 0, 0); err != nil {
		t.Fatal(err)
	}
	m = build(t, map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("key\n")})
	moduletest.Check(t, m)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatalf("apply through root's link: %v", err)
	}
	if readFile(t, filepath.Join(secretDir, "authorized_keys")) != "key\n" {
		t.Fatal("not written through root's link")
	}
}

// Removing a file whose folder was swapped for another user's link
// removes nothing there.
func TestRemoveNeverFollowsAnotherUsersLink(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to plant a link owned by another user")
	}
	home, secretDir := t.TempDir(), t.TempDir()
	kept := filepath.Join(secretDir, "authorized_keys")
	os.WriteFile(kept, []byte("root's key\n"), 0o600)
	link := filepath.Join(home, ".ssh")
	os.Symlink(secretDir, link)
	os.Lchown(link, nobody, nobody)
	m := build(t, map[string]cty.Value{"path": cty.StringVal(filepath.Join(link, "authorized_keys")), "state": cty.StringVal("absent")})
	moduletest.Check(t, m)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err == nil {
		t.Fatal("removal through another user's link succeeded")
	}
	if readFile(t, kept) != "root's key\n" {
		t.Fatal("removed through the link")
	}
}
