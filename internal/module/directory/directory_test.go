package directory

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func build(t *testing.T, vals map[string]cty.Value) module.Module {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("directory", "d", vals))
}

func TestConverge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b")
	ch := moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"path": cty.StringVal(p), "mode": cty.StringVal("0750"), "owner": cty.StringVal("root")})
	})
	if ch.Action != plan.Create || ch.Summary != "create directory "+p {
		t.Errorf("change = %+v", ch)
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Fatalf("stat: %v %v", fi, err)
	}

	// setgid set by hand must be cleared by a mode without it.
	os.Chmod(p, 0o2750|os.ModeSetgid)
	ch = moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"path": cty.StringVal(p), "mode": cty.StringVal("0755")})
	})
	if ch.Summary != "update directory "+p+": mode 2750 -> 0755" {
		t.Errorf("change = %+v", ch)
	}

	os.WriteFile(filepath.Join(p, "f"), []byte("x"), 0o644)
	ch = moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"path": cty.StringVal(p), "state": cty.StringVal("absent")})
	})
	if ch.Action != plan.Delete {
		t.Errorf("change = %+v", ch)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("tree not removed")
	}
}

func TestCheckErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	for _, state := range []string{"present", "absent"} {
		m := build(t, map[string]cty.Value{"path": cty.StringVal(f), "state": cty.StringVal(state)})
		if _, err := m.Check(moduletest.Probe(t, m)); err == nil || !strings.Contains(err.Error(), "is a regular file") {
			t.Errorf("%s: err = %v", state, err)
		}
	}
	m := build(t, map[string]cty.Value{"path": cty.StringVal("/x")})
	if _, err := m.Check(module.Probed{Stdout: []byte("garbage\n")}); err == nil {
		t.Errorf("garbage probe accepted")
	}
}

func TestArgErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"root":         {map[string]cty.Value{"path": cty.StringVal("/"), "state": cty.StringVal("absent")}, `does not manage "/"`},
		"root unclean": {map[string]cty.Value{"path": cty.StringVal("//."), "state": cty.StringVal("absent")}, `does not manage "/"`},
		"empty":        {map[string]cty.Value{"path": cty.StringVal(""), "state": cty.StringVal("absent")}, "must not be empty"},
		"relative":     {map[string]cty.Value{"path": cty.StringVal("srv")}, "absolute path"},
		"bad mode":     {map[string]cty.Value{"path": cty.StringVal("/srv"), "mode": cty.StringVal("0x1")}, "not a file mode"},
		"bad state":    {map[string]cty.Value{"path": cty.StringVal("/srv"), "state": cty.StringVal("directory")}, "must be one of"},
		"unsupported":  {map[string]cty.Value{"path": cty.StringVal("/srv"), "recurse": cty.True}, `no argument named "recurse"`},
	} {
		t.Run(name, func(t *testing.T) {
			m, diags := moduletest.Build(New, moduletest.Args("directory", "d", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
			if m.Probe() != "" && (name == "root" || name == "empty") {
				t.Errorf("a refused path is still probed")
			}
		})
	}
}

// A directory swapped for another user's symlink is refused: its owner and
// mode fix never reaches the link's target.
func TestModeFixRefusesAnotherUsersLink(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to plant a link owned by another user")
	}
	victim := t.TempDir() // stands for /etc
	os.Chmod(victim, 0o755)
	p := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(victim, p); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	m := build(t, map[string]cty.Value{"path": cty.StringVal(p), "mode": cty.StringVal("0777"), "owner": cty.StringVal("65534")})
	if ch := moduletest.Check(t, m); ch == nil {
		t.Fatal("no change planned")
	}
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "symbolic link owned by uid 65534") {
		t.Fatalf("apply error = %v", err)
	}
	if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o755 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("link target changed: %v %v", fi.Mode(), err)
	}
}
