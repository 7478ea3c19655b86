package group

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

// fakeGetent answers from $FAKES/<database>, by name or (for passwd and
// group) by id, like getent; fakeDel removes the named entry from
// $FAKES/<database>; fakeGroupadd adds "NAME:x:GID:".
const (
	fakeGetent = `f="$FAKES/$1"
[ -f "$f" ] || exit 2
if [ -z "$2" ]; then cat "$f"; exit 0; fi
awk -F: -v k="$2" '$1 == k || (k ~ /^[0-9]+$/ && $3 == k) { print; found = 1; exit } END { exit !found }' "$f" || exit 2`
	fakeGroupdel = `for n; do :; done
grep -v "^$n:" "$FAKES/group" > "$FAKES/group.new"; mv "$FAKES/group.new" "$FAKES/group"`
	fakeGroupadd = `for n; do :; done
echo "$n:x:$2:" >> "$FAKES/group"`
)

func fakes(t *testing.T, group string) *moduletest.Fakes {
	t.Helper()
	f := moduletest.FakeCommands(t, map[string]string{
		"getent": fakeGetent, "groupdel": fakeGroupdel, "groupadd": fakeGroupadd, "groupmod": "", "gpasswd": "",
	})
	f.Write(t, "group", group)
	return f
}

func build(t *testing.T, vals map[string]cty.Value) *Group {
	t.Helper()
	vals["name"] = cty.StringVal("app")
	return moduletest.MustBuild(t, New, moduletest.Args("group", "g", vals)).(*Group)
}

// run checks g against the fake database, runs the backup and Apply, and
// returns the undo fragment.
func run(t *testing.T, f *moduletest.Fakes, g *Group) string {
	t.Helper()
	if ch := moduletest.Check(t, g); ch == nil {
		t.Fatal("no change")
	}
	backup, undo, after := moduletest.Reversal(t, g, t.TempDir())
	if after != "" {
		t.Errorf("after = %q", after)
	}
	moduletest.MustRunFragment(t, "backup", backup)
	if got := f.Calls(t, "getent"); len(got) > 0 {
		t.Fatalf("backup ran %q", got)
	}
	if err := g.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	f.Calls(t)
	return undo
}

func TestUndoCreate(t *testing.T) {
	f := fakes(t, "root:x:0:\n")
	undo := run(t, f, build(t, map[string]cty.Value{"gid": cty.NumberIntVal(990)}))
	moduletest.MustRunFragment(t, "undo", undo)
	if got := f.Calls(t, "getent"); strings.Join(got, ",") != "groupdel app" {
		t.Errorf("undo ran %q", got)
	}
	moduletest.MustRunFragment(t, "undo", undo)
	if got := f.Calls(t, "getent"); len(got) > 0 {
		t.Errorf("second undo ran %q", got)
	}
}

func TestUndoGID(t *testing.T) {
	f := fakes(t, "app:x:990:alice\n")
	undo := run(t, f, build(t, map[string]cty.Value{"gid": cty.NumberIntVal(991)}))
	f.Write(t, "group", "app:x:991:alice\n") // what groupmod did
	moduletest.MustRunFragment(t, "undo", undo)
	if got := f.Calls(t, "getent"); strings.Join(got, ",") != "groupmod -g 990 app" {
		t.Errorf("undo ran %q", got)
	}
	f.Write(t, "group", "app:x:990:alice\n")
	moduletest.MustRunFragment(t, "undo", undo)
	if got := f.Calls(t, "getent"); len(got) > 0 {
		t.Errorf("second undo ran %q", got)
	}
}

func TestUndoRemove(t *testing.T) {
	f := fakes(t, "app:x:990:alice,bob\n")
	undo := run(t, f, build(t, map[string]cty.Value{"state": cty.StringVal("absent")}))
	if b, _ := os.ReadFile(filepath.Join(f.Dir, "group")); len(b) != 0 {
		t.Fatalf("not removed: %q", b)
	}
	moduletest.MustRunFragment(t, "undo", undo)
	if got := f.Calls(t, "getent"); strings.Join(got, ",") != "groupadd -g 990 app,gpasswd -M alice,bob app" {
		t.Errorf("undo ran %q", got)
	}
	moduletest.MustRunFragment(t, "undo", undo)
	if got := f.Calls(t, "getent"); len(got) > 0 {
		t.Errorf("second undo ran %q", got)
	}
}

func TestUndoWithoutBackupFails(t *testing.T) {
	fakes(t, "")
	g := build(t, map[string]cty.Value{})
	moduletest.Check(t, g)
	_, undo, _ := moduletest.Reversal(t, g, t.TempDir())
	if res := moduletest.RunFragment(t, undo); res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "no saved group app") {
		t.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
	}
}
