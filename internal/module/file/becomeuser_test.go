package file

import (
	"os"
	"os/user"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
)

// A file that a task running as another user (become_user) writes is that
// user's, unless owner says otherwise.
func TestBecomeUserOwnsTheFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	u, err := user.LookupId("65534")
	if err != nil {
		t.Skip("no user 65534 here")
	}
	dir := t.TempDir()
	buildAs := func(vals map[string]cty.Value) func() module.Module {
		return func() module.Module {
			a := moduletest.Args("file", "f", vals)
			a.SetBecomeUser(u.Username, &hcl.Range{Filename: "role.hcl"})
			return moduletest.MustBuild(t, New, a)
		}
	}
	owner := func(p string) uint32 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Uid
	}

	mine := filepath.Join(dir, "mine")
	moduletest.Converge(t, buildAs(map[string]cty.Value{"path": cty.StringVal(mine), "content": cty.StringVal("x\n")}))
	if owner(mine) != 65534 {
		t.Errorf("%s is owned by uid %d, want 65534 (%s)", mine, owner(mine), u.Username)
	}

	root := filepath.Join(dir, "root")
	moduletest.Converge(t, buildAs(map[string]cty.Value{"path": cty.StringVal(root), "content": cty.StringVal("x\n"), "owner": cty.StringVal("root")}))
	if owner(root) != 0 {
		t.Errorf("owner = \"root\": %s is owned by uid %d", root, owner(root))
	}

	// An existing root file: the plan says it changes hands.
	os.WriteFile(filepath.Join(dir, "old"), []byte("x\n"), 0o644)
	ch := moduletest.Converge(t, buildAs(map[string]cty.Value{"path": cty.StringVal(filepath.Join(dir, "old")), "content": cty.StringVal("x\n")}))
	if want := "update " + filepath.Join(dir, "old") + ": owner root -> " + u.Username; ch.Summary != want {
		t.Errorf("summary %q, want %q", ch.Summary, want)
	}
}
