package command

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
	return moduletest.MustBuild(t, New, moduletest.Args("command", "c", vals))
}

func TestCreatesConverges(t *testing.T) {
	dir := t.TempDir()
	mk := func() module.Module {
		return build(t, map[string]cty.Value{
			"command": cty.StringVal(`echo "$GREETING" > out; touch done`),
			"creates": cty.StringVal("done"), // relative to chdir
			"chdir":   cty.StringVal(dir),
			"env":     cty.MapVal(map[string]cty.Value{"GREETING": cty.StringVal("it's $HOME")}),
		})
	}
	ch := moduletest.Converge(t, mk)
	if ch.Action != plan.Run || ch.Summary != `echo "$GREETING" > out; touch done` || ch.Sensitive {
		t.Errorf("change = %+v", ch)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "it's $HOME\n" {
		t.Errorf("env value mangled: %q", b)
	}
}

func TestRemovesAndUnless(t *testing.T) {
	dir := t.TempDir()
	pending := filepath.Join(dir, "pending")
	os.WriteFile(pending, nil, 0o644)
	moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"command": cty.StringVal("rm " + pending), "removes": cty.StringVal(pending)})
	})

	marker := filepath.Join(dir, "marker")
	moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{
			"command": cty.StringVal("echo ok > " + marker),
			"unless":  cty.StringVal("grep -q ok " + marker),
		})
	})

	// unless with a syntax error or an exit: only unless fails, the probe still answers.
	// "grep -q ." would match the rest of the probe if unless could read it.
	for _, u := range []string{"if then fi (", "exit 0", "grep -q ."} {
		m := build(t, map[string]cty.Value{"command": cty.StringVal("true"), "unless": cty.StringVal(u)})
		p := moduletest.Probe(t, m)
		ch, err := m.Check(p)
		if err != nil {
			t.Fatalf("unless %q: %v (%q)", u, err, p.Stdout)
		}
		if (u == "exit 0") != (ch == nil) {
			t.Errorf("unless %q: change %+v", u, ch)
		}
	}
}

func TestWithoutConditionsAlwaysRuns(t *testing.T) {
	m := build(t, map[string]cty.Value{"command": cty.StringVal("true")})
	if m.Probe() != "" {
		t.Errorf("probe without conditions")
	}
	for i := 0; i < 2; i++ {
		ch, err := m.Check(module.Probed{})
		if err != nil || ch == nil || ch.Action != plan.Run {
			t.Fatalf("change = %+v, %v", ch, err)
		}
		if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCommandReadsNoScriptFromStdin(t *testing.T) {
	dir := t.TempDir()
	// If the command could read stdin it would swallow the rest of the script.
	m := build(t, map[string]cty.Value{"command": cty.StringVal("cat > " + filepath.Join(dir, "in")), "chdir": cty.StringVal(dir)})
	ch, _ := m.Check(module.Probed{})
	if ch == nil {
		t.Fatal("no change")
	}
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "in")); len(b) != 0 {
		t.Errorf("command read %q from stdin", b)
	}
}

func TestFailureReportsExitAndTail(t *testing.T) {
	m := build(t, map[string]cty.Value{"command": cty.StringVal("echo starting; echo 'disk full' >&2; exit 7")})
	m.Check(module.Probed{})
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "exit 7") || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "starting") {
		t.Errorf("err = %v", err)
	}

	m = build(t, map[string]cty.Value{"command": cty.StringVal("true"), "chdir": cty.StringVal("/nonexistent/dir")})
	m.Check(module.Probed{})
	if err := m.Apply(context.Background(), &transporttest.Local{}); err == nil || !strings.Contains(err.Error(), "chdir /nonexistent/dir does not exist") {
		t.Errorf("err = %v", err)
	}
}

func TestSensitive(t *testing.T) {
	const pw = "pa55-w0rd!"
	dir := t.TempDir()
	local := &transporttest.Local{}
	m := build(t, map[string]cty.Value{
		"command": cty.StringVal(`echo "login with $DB_PASSWORD failed" >&2; exit 1`),
		"env":     cty.MapVal(map[string]cty.Value{"DB_PASSWORD": secret.Wrap(cty.StringVal(pw)), "USER_NAME": cty.StringVal("app")}),
		"unless":  cty.StringVal("test -e " + filepath.Join(dir, "never")),
	})
	ch, err := m.Check(moduletest.Probe(t, m))
	moduletest.NoSecret(t, pw, ch, err)
	if ch == nil || !ch.Sensitive || ch.Summary != secret.Redacted {
		t.Fatalf("change = %+v", ch)
	}
	err = m.Apply(context.Background(), local)
	moduletest.NoSecret(t, pw, ch, err)
	if err == nil || !strings.Contains(err.Error(), "login with (sensitive) failed") {
		t.Errorf("err = %v", err)
	}
	// The secret travels in the script (stdin), exported, never as an argument.
	if s := local.Scripts[0]; !strings.Contains(s, "DB_PASSWORD='"+pw+"'; export DB_PASSWORD") {
		t.Errorf("script:\n%s", s)
	}

	// A secret inside the command text itself.
	m = build(t, map[string]cty.Value{"command": secret.Wrap(cty.StringVal("echo " + pw + "; exit 2"))})
	ch, _ = m.Check(module.Probed{})
	err = m.Apply(context.Background(), local)
	moduletest.NoSecret(t, pw, ch, err)
	if ch.Summary != secret.Redacted || err == nil || !strings.Contains(err.Error(), "exit 2") || !strings.Contains(err.Error(), "withheld") {
		t.Errorf("change %+v err %v", ch, err)
	}
}

func TestArgErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"missing":     {map[string]cty.Value{}, `needs the argument "command"`},
		"empty":       {map[string]cty.Value{"command": cty.StringVal("")}, "must not be empty"},
		"bad env":     {map[string]cty.Value{"command": cty.StringVal("x"), "env": cty.MapVal(map[string]cty.Value{"A-B": cty.StringVal("1")})}, "not a valid environment variable name"},
		"env type":    {map[string]cty.Value{"command": cty.StringVal("x"), "env": cty.StringVal("A=1")}, `"env"`},
		"unsupported": {map[string]cty.Value{"command": cty.StringVal("x"), "args": cty.StringVal("y")}, `no argument named "args"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("command", "c", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
		})
	}
}

func TestCheckRejectsGarbage(t *testing.T) {
	m := build(t, map[string]cty.Value{"command": cty.StringVal("x"), "creates": cty.StringVal("/x")})
	if _, err := m.Check(module.Probed{Stdout: []byte("sh: syntax error\n"), ExitCode: 2}); err == nil {
		t.Errorf("garbage accepted")
	}
}
