package service

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

// fakeSystemctl is a systemctl that keeps the unit's state in files of
// $FAKES: load (LoadState), active, enabled, and unitfile when show's
// UnitFileState differs from is-enabled (a SysV script: "generated").
const fakeSystemctl = `st() { cat "$FAKES/$1" 2>/dev/null; }
case "$1" in
is-active) a=$(st active); [ "$2" = --quiet ] || echo "$a"; [ "$a" = active ]; exit ;;
is-enabled) st enabled ;;
show) shift
  while [ $# -gt 0 ]; do
    if [ "$1" = -p ]; then shift; case $1 in
      LoadState) echo "LoadState=$(st load)" ;;
      NeedDaemonReload) echo NeedDaemonReload=no ;;
      ActiveState) echo "ActiveState=$(st active)" ;;
      UnitFileState) if [ -f "$FAKES/unitfile" ]; then echo "UnitFileState=$(st unitfile)"; else echo "UnitFileState=$(st enabled)"; fi ;;
    esac; fi
    shift
  done ;;
start) echo active > "$FAKES/active" ;;
stop) echo inactive > "$FAKES/active" ;;
enable) echo enabled > "$FAKES/enabled" ;;
disable) echo disabled > "$FAKES/enabled" ;;
esac
exit 0`

type unit struct{ load, active, enabled string }

func fakeUnit(t *testing.T, u unit) *moduletest.Fakes {
	t.Helper()
	f := moduletest.FakeCommands(t, map[string]string{"systemctl": fakeSystemctl})
	f.Write(t, "load", u.load+"\n")
	f.Write(t, "active", u.active+"\n")
	f.Write(t, "enabled", u.enabled+"\n")
	return f
}

func unitNow(t *testing.T, f *moduletest.Fakes) unit {
	t.Helper()
	read := func(n string) string {
		b, _ := os.ReadFile(filepath.Join(f.Dir, n))
		return strings.TrimSpace(string(b))
	}
	return unit{read("load"), read("active"), read("enabled")}
}

// changes are the systemctl calls that change something.
func changes(t *testing.T, f *moduletest.Fakes) []string {
	return f.Calls(t, "systemctl show", "systemctl is-")
}

func TestUndoStartAndEnable(t *testing.T) {
	for name, tc := range map[string]struct {
		before   unit
		vals     map[string]cty.Value
		applied  unit
		undoCmds string
		restored unit // before, but "failed" comes back as "inactive"
	}{
		"start+enable": {unit{"loaded", "inactive", "disabled"}, map[string]cty.Value{"state": cty.StringVal("started"), "enabled": cty.True},
			unit{"loaded", "active", "enabled"}, "systemctl disable nginx,systemctl stop nginx", unit{"loaded", "inactive", "disabled"}},
		"stop+disable": {unit{"loaded", "active", "enabled"}, map[string]cty.Value{"state": cty.StringVal("stopped"), "enabled": cty.False},
			unit{"loaded", "inactive", "disabled"}, "systemctl enable nginx,systemctl start nginx", unit{"loaded", "active", "enabled"}},
		"enable only": {unit{"loaded", "active", "disabled"}, map[string]cty.Value{"enabled": cty.True},
			unit{"loaded", "active", "enabled"}, "systemctl disable nginx", unit{"loaded", "active", "disabled"}},
		"start only": {unit{"loaded", "failed", "enabled"}, map[string]cty.Value{"state": cty.StringVal("started")},
			unit{"loaded", "active", "enabled"}, "systemctl stop nginx", unit{"loaded", "inactive", "enabled"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := fakeUnit(t, tc.before)
			s := build(t, tc.vals)
			if ch := moduletest.Check(t, s); ch == nil {
				t.Fatal("no change")
			}
			backup, undo, after := moduletest.Reversal(t, s, t.TempDir())
			if after != "" {
				t.Errorf("after = %q", after)
			}
			moduletest.MustRunFragment(t, "backup", backup)
			if got := changes(t, f); len(got) > 0 {
				t.Fatalf("backup changed the unit: %q", got)
			}
			if err := s.Apply(context.Background(), &transporttest.Local{}); err != nil {
				t.Fatal(err)
			}
			if got := unitNow(t, f); got != tc.applied {
				t.Fatalf("after apply: %+v", got)
			}
			changes(t, f)
			for i := range 2 {
				moduletest.MustRunFragment(t, "undo", undo)
				if got := unitNow(t, f); got != tc.restored {
					t.Fatalf("after undo #%d: %+v, want %+v", i+1, got, tc.restored)
				}
				if got := strings.Join(changes(t, f), ","); got != tc.undoCmds {
					t.Errorf("undo #%d ran %q, want %q", i+1, got, tc.undoCmds)
				}
			}
		})
	}
}

// A unit that did not exist before (its package installed by the same
// run) is disabled and stopped by undo; one gone again is left alone.
func TestUndoUnitNotFoundBefore(t *testing.T) {
	f := fakeUnit(t, unit{"not-found", "inactive", ""})
	s := build(t, map[string]cty.Value{"state": cty.StringVal("started"), "enabled": cty.True})
	moduletest.Check(t, s)
	backup, undo, _ := moduletest.Reversal(t, s, t.TempDir())
	moduletest.MustRunFragment(t, "backup", backup)
	f.Write(t, "load", "loaded\n") // the package task installed it
	if err := s.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	changes(t, f)
	moduletest.MustRunFragment(t, "undo", undo)
	if got := strings.Join(changes(t, f), ","); got != "systemctl disable nginx,systemctl stop nginx" {
		t.Errorf("undo ran %q", got)
	}
	f.Write(t, "load", "not-found\n")
	moduletest.MustRunFragment(t, "undo", undo)
	if got := changes(t, f); len(got) > 0 {
		t.Errorf("undo acted on a missing unit: %q", got)
	}
}

func TestRestartAndReloadAreRepeatedAfterRollback(t *testing.T) {
	for _, op := range []string{"restart", "reload"} {
		t.Run(op, func(t *testing.T) {
			f := fakeUnit(t, unit{"loaded", "active", "enabled"})
			s := build(t, map[string]cty.Value{"state": cty.StringVal(op + "ed")})
			moduletest.Check(t, s)
			backup, undo, after := moduletest.Reversal(t, s, t.TempDir())
			if backup != "" || undo != "" || after == "" {
				t.Fatalf("backup %q undo %q after %q", backup, undo, after)
			}
			moduletest.MustRunFragment(t, "after", after)
			if got := strings.Join(changes(t, f), ","); got != "systemctl "+op+" nginx" {
				t.Errorf("after ran %q", got)
			}
			// Same unit, same operation: the same text, which a rollback runs once.
			_, _, again := moduletest.Reversal(t, s, t.TempDir())
			if again != after {
				t.Errorf("after differs between tasks:\n%s\n%s", after, again)
			}
			// Stopped by an undo: after does not start it.
			f.Write(t, "active", "inactive\n")
			moduletest.MustRunFragment(t, "after", after)
			if got := changes(t, f); len(got) > 0 {
				t.Errorf("after started a stopped unit: %q", got)
			}
		})
	}
}

// A reload of a stopped unit starts it: undo stops it again.
func TestUndoReloadThatStarted(t *testing.T) {
	f := fakeUnit(t, unit{"loaded", "inactive", "enabled"})
	s := build(t, map[string]cty.Value{"state": cty.StringVal("reloaded")})
	moduletest.Check(t, s)
	backup, undo, after := moduletest.Reversal(t, s, t.TempDir())
	moduletest.MustRunFragment(t, "backup", backup)
	if err := s.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if unitNow(t, f).active != "active" {
		t.Fatal("not started")
	}
	changes(t, f)
	moduletest.MustRunFragment(t, "undo", undo)
	moduletest.MustRunFragment(t, "after", after)
	if got := strings.Join(changes(t, f), ","); got != "systemctl stop nginx" {
		t.Errorf("rollback ran %q", got)
	}
}

func TestUndoWithoutBackupFails(t *testing.T) {
	fakeUnit(t, unit{"loaded", "inactive", "disabled"})
	s := build(t, map[string]cty.Value{"state": cty.StringVal("started")})
	moduletest.Check(t, s)
	_, undo, _ := moduletest.Reversal(t, s, t.TempDir())
	if res := moduletest.RunFragment(t, undo); res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "no saved state of nginx") {
		t.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
	}
}
