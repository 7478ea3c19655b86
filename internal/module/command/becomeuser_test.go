package command

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// sudoAs puts a sudo on PATH that notes the user it is asked to run as
// (one line per run in the returned log) and runs the rest as the test's
// user, HOME set to home.
func sudoAs(t *testing.T, home string) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "sudo.log")
	script := "#!/bin/sh\nwhile [ \"$1\" != -- ]; do [ \"$1\" = -u ] && printf '%s\\n' \"$2\" >> " + shell.Quote(log) + "; shift; done; shift\n" +
		"HOME=" + shell.Quote(home) + " exec \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

func buildAs(t *testing.T, user string, vals map[string]cty.Value) module.Module {
	t.Helper()
	a := moduletest.Args("command", "c", vals)
	a.SetBecomeUser(user, &hcl.Range{Filename: "role.hcl"})
	return moduletest.MustBuild(t, New, a)
}

// With become_user the command, its unless and its undo run as that user
// (sudo -u), with env and chdir; the plan line says who.
func TestCommandAsAnotherUser(t *testing.T) {
	home, work := t.TempDir(), t.TempDir()
	log := sudoAs(t, home)
	out := filepath.Join(work, "out")
	vals := map[string]cty.Value{
		"command": cty.StringVal(`echo "$GREETING in $(pwd) at $HOME" > out`),
		"unless":  cty.StringVal(`test -s "$PWD/out"`),
		"chdir":   cty.StringVal(work),
		"env":     cty.MapVal(map[string]cty.Value{"GREETING": cty.StringVal("it's $me")}),
		"undo":    cty.StringVal("rm out"),
	}
	ch := moduletest.Converge(t, func() module.Module { return buildAs(t, "postgres", vals) })
	if ch.Summary != `echo "$GREETING in $(pwd) at $HOME" > out (as postgres)` {
		t.Errorf("summary %q", ch.Summary)
	}
	if b, _ := os.ReadFile(out); string(b) != "it's $me in "+work+" at "+home+"\n" {
		t.Errorf("the command ran with %q", b)
	}
	// Converge: the probe with unless, the command, the probe again.
	if b, _ := os.ReadFile(log); string(b) != "postgres\npostgres\npostgres\n" {
		t.Errorf("sudo -u ran %q, want the unless, the command and the unless again as postgres", b)
	}
	_, undo, _ := buildAs(t, "postgres", vals).(module.Reversible).Reversal(t.TempDir())
	if _, err := (&transporttest.Local{}).Run(context.Background(), undo); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the undo did not run: %v", err)
	}
	if b, _ := os.ReadFile(log); strings.Count(string(b), "postgres\n") != 4 {
		t.Errorf("the undo did not run as postgres: %q", b)
	}
}

// A failing command as another user fails the task, with its output; no
// become_user runs no sudo.
func TestCommandAsAnotherUserFails(t *testing.T) {
	log := sudoAs(t, t.TempDir())
	m := buildAs(t, "app", map[string]cty.Value{"command": cty.StringVal("echo nope >&2; exit 3")})
	moduletest.Check(t, m)
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "nope") || !strings.Contains(err.Error(), "exit 3") {
		t.Errorf("err = %v", err)
	}
	os.Remove(log)
	m = build(t, map[string]cty.Value{"command": cty.StringVal("true")})
	moduletest.Check(t, m)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(log); err == nil {
		t.Errorf("a command without become_user ran sudo")
	}
}
