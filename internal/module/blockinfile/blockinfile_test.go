package blockinfile

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
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func build(t *testing.T, vals map[string]cty.Value) module.Module {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("block_in_file", "t", vals))
}

func args(p string, kv ...string) map[string]cty.Value {
	vals := map[string]cty.Value{"path": cty.StringVal(p)}
	for i := 0; i+1 < len(kv); i += 2 {
		vals[kv[i]] = cty.StringVal(kv[i+1])
	}
	return vals
}

const (
	begin = "# BEGIN SKIFF MANAGED BLOCK\n"
	end   = "# END SKIFF MANAGED BLOCK\n"
)

func TestEdits(t *testing.T) {
	for _, tc := range []struct {
		name, before string
		kv           []string
		after        string
		summary      string
	}{
		{"appended", "127.0.0.1 localhost\n", []string{"block", "10.0.0.5 db\n10.0.0.6 cache\n"},
			"127.0.0.1 localhost\n" + begin + "10.0.0.5 db\n10.0.0.6 cache\n" + end, "insert the block at line 2"},
		{"replaced between its markers, in place", "a\n" + begin + "old\n" + end + "z\n", []string{"block", "new1\nnew2"},
			"a\n" + begin + "new1\nnew2\n" + end + "z\n", "replace the block at line 2"},
		{"markers with trailing spaces still found", "a\n# BEGIN SKIFF MANAGED BLOCK  \nold\n" + end, []string{"block", "new"},
			"a\n# BEGIN SKIFF MANAGED BLOCK  \nnew\n" + end, "replace the block at line 2"},
		{"insert_before BOF", "a\n", []string{"block", "x", "insert_before", "BOF"}, begin + "x\n" + end + "a\n", "insert the block at line 1"},
		{"insert_after a regexp", "[a]\nk=1\n[b]\nk=2\n", []string{"block", "x=1", "insert_after", `^\[a\]`}, "[a]\n" + begin + "x=1\n" + end + "k=1\n[b]\nk=2\n", "insert the block at line 2"},
		{"no trailing newline", "a", []string{"block", "x"}, "a\n" + begin + "x\n" + end, "insert the block at line 2"},
		{"CRLF kept", "a\r\n", []string{"block", "x\ny"}, "a\r\n# BEGIN SKIFF MANAGED BLOCK\r\nx\r\ny\r\n# END SKIFF MANAGED BLOCK\r\n", "insert the block at line 2"},
		{"own marker", "a\n", []string{"block", "x", "marker", "// {mark} app", "marker_begin", "start", "marker_end", "stop"}, "a\n// start app\nx\n// stop app\n", "insert the block at line 2"},
		{"empty block keeps the markers", "a\n" + begin + "old\n" + end, []string{"block", ""}, "a\n" + begin + end, "replace the block at line 2"},
		{"absent removes block and markers", "a\n" + begin + "old\n" + end + "z\n", []string{"state", "absent"}, "a\nz\n", "remove the block at lines 2-4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, []byte(tc.before), 0o644)
			ch := moduletest.Converge(t, func() module.Module { return build(t, args(p, tc.kv...)) })
			if got, _ := os.ReadFile(p); string(got) != tc.after {
				t.Errorf("file = %q, want %q", got, tc.after)
			}
			if ch.Action != plan.Update || ch.Summary != "update "+p+": "+tc.summary || ch.Diff == "" {
				t.Errorf("change = %s %q\n%s", ch.Action, ch.Summary, ch.Diff)
			}
		})
	}
}

func TestNothingToDo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("a\n"+begin+"x\ny\n"+end), 0o644)
	if ch := moduletest.Check(t, build(t, args(p, "block", "x\ny\n"))); ch != nil {
		t.Errorf("unexpected change %+v", *ch)
	}
	os.WriteFile(p, []byte("a\n"), 0o644)
	if ch := moduletest.Check(t, build(t, args(p, "state", "absent"))); ch != nil {
		t.Errorf("unexpected change %+v", *ch)
	}
}

// TestBrokenMarkers: skiff does not guess which lines it manages.
func TestBrokenMarkers(t *testing.T) {
	for name, content := range map[string]string{
		"begin only":     "a\n" + begin + "x\n",
		"end only":       "a\n" + end,
		"end before":     end + "x\n" + begin,
		"two blocks":     begin + "x\n" + end + begin + "y\n" + end,
		"two begin, one": begin + begin + "x\n" + end,
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, []byte(content), 0o644)
			m := build(t, args(p, "block", "z"))
			_, err := m.Check(moduletest.Probe(t, m))
			if err == nil || !strings.Contains(err.Error(), "by hand") || !strings.Contains(err.Error(), p) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new")
	vals := args(p, "block", "x")
	vals["create"] = cty.True
	ch := moduletest.Converge(t, func() module.Module { return build(t, vals) })
	if ch.Action != plan.Create {
		t.Errorf("action = %s", ch.Action)
	}
	if got, _ := os.ReadFile(p); string(got) != begin+"x\n"+end {
		t.Errorf("file = %q", got)
	}
}

func TestUndo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("a\n"+begin+"old\n"+end), 0o600)
	before := moduletest.PathState(t, p)
	m := build(t, args(p, "block", "new"))
	moduletest.Check(t, m)
	backup, undo, _ := moduletest.Reversal(t, m, filepath.Join(t.TempDir(), "runs", "1"))
	moduletest.MustRunFragment(t, "backup", backup)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	moduletest.MustRunFragment(t, "undo", undo)
	if got := moduletest.PathState(t, p); got != before {
		t.Fatalf("after undo:\n%s\nwant:\n%s", got, before)
	}
}

func TestArgumentErrors(t *testing.T) {
	str := cty.StringVal
	for _, tc := range []struct {
		vals map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{"path": str("/etc/x")}, `needs the argument "block"`},
		{map[string]cty.Value{"path": str("/etc/x"), "block": str("a"), "marker": str("# managed")}, "must contain {mark}"},
		{map[string]cty.Value{"path": str("/etc/x"), "block": str("a"), "marker_begin": str("X"), "marker_end": str("X")}, "must differ"},
		{map[string]cty.Value{"path": str("/etc/x"), "block": str("a\r\nb")}, "carriage return"},
		{map[string]cty.Value{"path": str("/etc/x"), "block": str("# END SKIFF MANAGED BLOCK")}, "its own marker line"},
		{map[string]cty.Value{"path": str("/etc/x"), "block": str("a"), "state": str("absent")}, "leave block out"},
		{map[string]cty.Value{"path": str("/etc/x"), "block": secret.Wrap(str("password=x"))}, "must not derive from a secret"},
	} {
		_, diags := moduletest.Build(New, moduletest.Args("block_in_file", "t", tc.vals))
		moduletest.DiagsContain(t, diags, tc.want)
	}
}
