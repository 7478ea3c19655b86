package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/lock"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// localDial reaches every host but "down" with the local shell.
func localDial(_ context.Context, h *inventory.Host) (transport.Transport, error) {
	if h.Name == "down" {
		return nil, &transport.UnreachableError{Host: h.Name, Err: errors.New("connection refused")}
	}
	return &transporttest.Local{}, nil
}

func TestLockStatusAndRelease(t *testing.T) {
	ctx := context.Background()
	held := lock.Store{Dir: t.TempDir()}
	info := lock.Info{Owner: "alice@laptop", RunID: "run-1", Command: "apply", PID: 4242}
	if _, _, err := held.Acquire(ctx, &transporttest.Local{}, "web1", info, time.Minute); err != nil {
		t.Fatal(err)
	}
	hosts := []*inventory.Host{{Name: "web1"}, {Name: "down"}}

	res := lockStatus(ctx, held, hosts, 2, localDial)
	if res[0].Status != lockHeld || res[0].Lock == nil || res[0].Lock.RunID != "run-1" || res[0].Stale {
		t.Errorf("web1 = %+v", res[0])
	}
	if res[1].Status != plan.StatusUnreachable || !strings.Contains(res[1].Error, "connection refused") {
		t.Errorf("down = %+v", res[1])
	}
	var out bytes.Buffer
	writeLockText(&out, res, time.Now())
	text := out.String()
	want := regexp.MustCompile(`^web1  held by alice@laptop \(run run-1, apply\) since \d\d:\d\d:\d\d UTC, heartbeat [0-3]s ago, pid 4242
down  unreachable: down: unreachable: connection refused
$`)
	if !want.MatchString(text) {
		t.Errorf("text:\n%s", text)
	}

	c := &console{out: &out}
	out.Reset()
	if err := reportLock(c, "json", "lock-status", res); !errors.Is(err, exitError{1}) {
		t.Errorf("unreachable host: err = %v, want exit 1", err)
	}
	var doc struct {
		Mode  string     `json:"mode"`
		Hosts []lockHost `json:"hosts"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.Mode != "lock-status" || len(doc.Hosts) != 2 || doc.Hosts[0].Lock.Owner != "alice@laptop" {
		t.Fatalf("json %v: %s", err, out.String())
	}

	res = lockRelease(ctx, held, hosts[:1], 1, localDial)
	if res[0].Status != lockReleased || res[0].Lock == nil || res[0].Lock.RunID != "run-1" {
		t.Fatalf("release = %+v", res[0])
	}
	out.Reset()
	writeLockText(&out, res, time.Now())
	if !strings.HasPrefix(out.String(), "web1  released, was held by alice@laptop (run run-1, apply)") {
		t.Errorf("release text = %q", out.String())
	}
	res = lockStatus(ctx, held, hosts[:1], 1, localDial)
	if res[0].Status != lockFree || res[0].Lock != nil {
		t.Fatalf("status after release = %+v", res[0])
	}
	out.Reset()
	if err := reportLock(c, "text", "lock-status", res); err != nil || out.String() != "web1  free\n" {
		t.Errorf("free: %v %q", err, out.String())
	}
}

func TestLockStatusMarksStale(t *testing.T) {
	now := time.Now()
	info := &lock.Info{Owner: "a@b", RunID: "r", Command: "apply", Started: now.Add(-time.Hour), Heartbeat: now.Add(-10 * time.Minute)}
	var out bytes.Buffer
	writeLockText(&out, []lockHost{{Name: "web1", Status: lockHeld, Lock: info, Stale: true}, {Name: "db1", Status: lockHeld, Lock: &lock.Info{Corrupt: true}}}, now)
	if !strings.Contains(out.String(), "heartbeat 10m0s ago (stale: the next apply takes it over)") ||
		!strings.Contains(out.String(), "db1   held by an unreadable lock file (the next apply takes it over)") {
		t.Errorf("text = %q", out.String())
	}
}

func writeInventory(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "inv.hcl")
	src := `host "web1" {
  address = "127.0.0.1"
}
`
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runLockCmd(t *testing.T, stdinTTY bool, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &console{in: strings.NewReader(""), out: &out, err: &errb, inTTY: stdinTTY, diags: &diagLog{}}
	cmd := newLockCmd(c, nil)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestLockReleaseNeedsYesWithoutTerminal(t *testing.T) {
	_, _, err := runLockCmd(t, false, "release", "-i", writeInventory(t))
	if err == nil || !strings.Contains(err.Error(), "pass --yes") {
		t.Fatalf("err = %v", err)
	}
}

func TestLockCommandsCheckFlags(t *testing.T) {
	if _, _, err := runLockCmd(t, false, "status"); err == nil || !strings.Contains(err.Error(), "inventory") {
		t.Errorf("status without -i: %v", err)
	}
	if _, _, err := runLockCmd(t, false, "status", "-i", writeInventory(t), "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("status -o yaml: %v", err)
	}
	if _, _, err := runLockCmd(t, false, "release", "-i", writeInventory(t), "--limit", "nosuch", "--yes"); err == nil || !strings.Contains(err.Error(), "--limit") {
		t.Errorf("release --limit nosuch: %v", err)
	}
}

func TestLockReleaseHelpSaysWhen(t *testing.T) {
	out, _, _ := runLockCmd(t, false, "release", "--help")
	for _, want := range []string{"only when its holder is dead", "--yes", "--limit", "skiff lock status"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}
