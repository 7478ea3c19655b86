package ufw

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

// statefulUFW replaces h's fake ufw by one that changes the host's files
// as ufw would (roughly): rules are appended to user.rules, default edits
// /etc/default/ufw, enable and disable set ENABLED and the status (kept in
// <root>/status).
func statefulUFW(t *testing.T, h *host, status string) {
	t.Helper()
	h.write(t, "status", status+"\n")
	fake := `#!/bin/sh
echo "$*" >> ` + h.log + `
root=` + h.root + `
onoff() { echo "$1" > "$root/status"; sed -i "s/^ENABLED=.*/ENABLED=$2/" "$root/etc/ufw/ufw.conf"; }
case "$1" in
status) echo "Status: $(cat "$root/status")" ;;
--force) case "$2" in enable) onoff active yes ;; disable) onoff inactive no ;; esac ;;
disable) onoff inactive no ;;
default) sed -i "s/^DEFAULT_INPUT_POLICY=.*/DEFAULT_INPUT_POLICY=\"$2\"/" "$root/etc/default/ufw" ;;
reload) ;;
*) echo "### tuple ### fake $*" >> "$root/etc/ufw/user.rules" ;;
esac
`
	if err := os.WriteFile(filepath.Join(filepath.Dir(h.log), "ufw"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(h.root, "etc/ufw/user.rules"), 0o640)
}

func status(t *testing.T, h *host) string {
	b, _ := os.ReadFile(filepath.Join(h.root, "status"))
	return strings.TrimSpace(string(b))
}

func TestUndo(t *testing.T) {
	ssh := obj("port", 22, "from", "10.0.0.0/8", "comment", "ssh from admins")
	for name, tc := range map[string]struct {
		enabled  string // ENABLED in ufw.conf before
		status   string
		vals     map[string]cty.Value
		undoCall string // the last call the first undo makes
	}{
		// Active: rules and policy changed, then put back and reloaded.
		"active, rules changed": {"yes", "active", map[string]cty.Value{
			"rules": cty.TupleVal([]cty.Value{ssh, obj("port", 443)}), "default_incoming": cty.StringVal("reject"),
		}, "reload"},
		// Inactive: enabled by the change, disabled again by undo.
		"inactive, enabled": {"no", "inactive", map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{ssh})}, "--force disable"},
		// Active: disabled by the change, enabled again by undo.
		"active, disabled": {"yes", "active", map[string]cty.Value{"enabled": cty.False}, "--force enable"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHost(t, true, "")
			h.edit(t, "etc/ufw/ufw.conf", "ENABLED=no", "ENABLED="+tc.enabled)
			statefulUFW(t, h, tc.status)
			etc := filepath.Join(h.root, "etc")
			before := moduletest.PathState(t, etc)

			u := build(t, h, tc.vals)
			if ch := check(t, u); ch == nil {
				t.Fatal("no change")
			}
			backup, undo, after := moduletest.Reversal(t, u, t.TempDir())
			if after != "" {
				t.Errorf("after = %q", after)
			}
			moduletest.MustRunFragment(t, "backup", backup)
			if got := h.calls(t); len(got) > 0 || moduletest.PathState(t, etc) != before {
				t.Fatalf("backup changed something: %q", got)
			}
			if err := u.Apply(context.Background(), &transporttest.Local{}); err != nil {
				t.Fatal(err)
			}
			if moduletest.PathState(t, etc) == before {
				t.Fatal("apply changed no file")
			}
			os.Remove(h.log)

			for i := range 2 {
				moduletest.MustRunFragment(t, "undo", undo)
				// The saved files are back byte for byte (the SSH rule with
				// them), and only then is ufw reloaded, enabled or disabled.
				if got := moduletest.PathState(t, etc); got != before {
					t.Fatalf("after undo #%d:\n%s\nwant:\n%s", i+1, got, before)
				}
				if status(t, h) != tc.status {
					t.Errorf("after undo #%d: status %s, want %s", i+1, status(t, h), tc.status)
				}
				want := tc.undoCall
				if i > 0 { // ufw is back as it was: a second undo only reloads or disables
					want = map[string]string{"active": "reload", "inactive": "--force disable"}[tc.status]
				}
				calls := h.calls(t)
				if len(calls) == 0 || calls[len(calls)-1] != want {
					t.Errorf("undo #%d ran %q, want %q last", i+1, calls, want)
				}
				os.Remove(h.log)
			}
			if !strings.Contains(before, "allow tcp 22 0.0.0.0/0 any 10.0.0.0/8 in comment=") {
				t.Errorf("sample lacks the SSH rule")
			}
			if m, _ := filepath.Glob(filepath.Join(etc, "*", ".skiff-*")); len(m) > 0 {
				t.Errorf("temporary files left: %v", m)
			}
		})
	}
}

// When ufw was not installed, there was no firewall: undo disables it.
func TestUndoNotInstalled(t *testing.T) {
	h := newHost(t, false, "")
	u := build(t, h, map[string]cty.Value{"rules": sampleRules()})
	check(t, u)
	backup, undo, _ := moduletest.Reversal(t, u, t.TempDir())
	moduletest.MustRunFragment(t, "backup", backup)
	moduletest.MustRunFragment(t, "undo without ufw", undo)

	// ufw installed (and enabled) since by a package task and this one.
	bin := t.TempDir()
	log := filepath.Join(bin, "log")
	os.WriteFile(filepath.Join(bin, "ufw"), []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755)
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	moduletest.MustRunFragment(t, "undo", undo)
	if b, _ := os.ReadFile(log); string(b) != "--force disable\n" {
		t.Errorf("undo ran %q", b)
	}
}

func TestUndoWithoutBackupFails(t *testing.T) {
	h := newHost(t, true, "inactive")
	u := build(t, h, map[string]cty.Value{"rules": sampleRules()})
	check(t, u)
	_, undo, _ := moduletest.Reversal(t, u, t.TempDir())
	if res := moduletest.RunFragment(t, undo); res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "no saved ufw state") {
		t.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
	}
	if got := h.calls(t); len(got) > 0 {
		t.Errorf("undo without backup ran %q", got)
	}
}
