package symlink

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func build(t *testing.T, vals map[string]cty.Value) module.Module {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("symlink", "l", vals))
}

func TestConverge(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "current")
	link := func(target string) func() module.Module {
		return func() module.Module {
			return build(t, map[string]cty.Value{"path": cty.StringVal(p), "target": cty.StringVal(target)})
		}
	}
	ch := moduletest.Converge(t, link("releases/1"))
	if ch.Action != plan.Create || ch.Summary != "link "+p+" -> releases/1" {
		t.Errorf("change = %+v", ch)
	}
	// Replacing a link to a directory must replace the link, not write inside the directory.
	os.MkdirAll(filepath.Join(dir, "releases", "1"), 0o755)
	ch = moduletest.Converge(t, link("releases/2"))
	if ch.Action != plan.Update || ch.Summary != "relink "+p+" -> releases/2 (was -> releases/1)" {
		t.Errorf("change = %+v", ch)
	}
	if got, _ := os.Readlink(p); got != "releases/2" {
		t.Errorf("link -> %q", got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "releases", "1", "*")); len(m) > 0 {
		t.Errorf("wrote into the old target: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".skiff-*")); len(m) > 0 {
		t.Errorf("temporary left: %v", m)
	}

	ch = moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"path": cty.StringVal(p), "state": cty.StringVal("absent")})
	})
	if ch.Action != plan.Delete {
		t.Errorf("change = %+v", ch)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("link not removed")
	}
}

// A target holding backslashes is read back as it is: the link converges
// once, and a second plan finds nothing to do.
func TestConvergeTargetWithBackslashes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "current")
	const target = `releases/2\c-\t`
	ch := moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"path": cty.StringVal(p), "target": cty.StringVal(target)})
	})
	if ch.Action != plan.Create {
		t.Errorf("change = %+v", ch)
	}
	if got, _ := os.Readlink(p); got != target {
		t.Errorf("link -> %q, want %q", got, target)
	}
}

func TestRefusesToReplaceAFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data")
	os.WriteFile(p, []byte("precious"), 0o644)
	for _, vals := range []map[string]cty.Value{
		{"path": cty.StringVal(p), "target": cty.StringVal("/x")},
		{"path": cty.StringVal(p), "state": cty.StringVal("absent")},
	} {
		m := build(t, vals)
		if _, err := m.Check(moduletest.Probe(t, m)); err == nil || !strings.Contains(err.Error(), "is a regular file") {
			t.Errorf("err = %v", err)
		}
		_ = m.Apply(context.Background(), &transporttest.Local{}) // no change recorded: must do nothing
	}
	if b, _ := os.ReadFile(p); string(b) != "precious" {
		t.Errorf("file replaced")
	}
}

func TestArgErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"no target":   {map[string]cty.Value{"path": cty.StringVal("/x")}, `needs the argument "target"`},
		"empty":       {map[string]cty.Value{"path": cty.StringVal("/x"), "target": cty.StringVal("")}, "must not be empty"},
		"bad state":   {map[string]cty.Value{"path": cty.StringVal("/x"), "target": cty.StringVal("/y"), "state": cty.StringVal("link")}, "must be one of"},
		"unsupported": {map[string]cty.Value{"path": cty.StringVal("/x"), "target": cty.StringVal("/y"), "force": cty.True}, `no argument named "force"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("symlink", "l", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
		})
	}
}
