package file

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
	return moduletest.MustBuild(t, New, moduletest.Args("file", "f", vals))
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// noTemps fails if an upload left a temporary file behind.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, ".skiff-*"))
	if len(m) > 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

func TestConvergeCreateUpdateMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.conf")
	args := func(content, mode string) func() module.Module {
		return func() module.Module {
			return build(t, map[string]cty.Value{
				"path": cty.StringVal(p), "content": cty.StringVal(content),
				"mode": cty.StringVal(mode), "owner": cty.StringVal("root"), "group": cty.StringVal("0"),
			})
		}
	}

	ch := moduletest.Converge(t, args("a\nb\nc\n", "0640"))
	if ch.Action != plan.Create || ch.Summary != "create "+p {
		t.Errorf("create change = %+v", ch)
	}
	for _, want := range []string{"--- " + p + " (on host)", "+++ " + p + " (wanted)", "+a\n+b\n+c\n"} {
		if !strings.Contains(ch.Diff, want) {
			t.Errorf("create diff lacks %q:\n%s", want, ch.Diff)
		}
	}
	if got := readFile(t, p); got != "a\nb\nc\n" || mode(t, p) != 0o640 {
		t.Errorf("after create: %q %v", got, mode(t, p))
	}

	ch = moduletest.Converge(t, args("a\nB\nc\n", "0640"))
	if ch.Action != plan.Update || ch.Summary != "update "+p+": content" {
		t.Errorf("update change = %+v", ch)
	}
	if !strings.Contains(ch.Diff, "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n") {
		t.Errorf("update diff:\n%s", ch.Diff)
	}
	if readFile(t, p) != "a\nB\nc\n" {
		t.Errorf("content not updated")
	}

	ch = moduletest.Converge(t, args("a\nB\nc\n", "0600"))
	if ch.Summary != "update "+p+": mode 0640 -> 0600" || ch.Diff != "" {
		t.Errorf("mode change = %+v", ch)
	}
	if mode(t, p) != 0o600 {
		t.Errorf("mode = %v", mode(t, p))
	}
	noTemps(t, dir)
}

func TestUpdateKeepsModeWhenNotGiven(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	if err := os.WriteFile(p, []byte("old\n"), 0o751); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o751)
	moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("new\n")})
	})
	if mode(t, p) != 0o751 {
		t.Errorf("mode changed to %v", mode(t, p))
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "site.conf")
	if err := os.WriteFile(p, []byte("good old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mk := func(content string) module.Module {
		return build(t, map[string]cty.Value{
			"path": cty.StringVal(p), "content": cty.StringVal(content),
			"validate": cty.StringVal("grep -q good %s || { echo \"no good in %s\"; exit 4; }"),
		})
	}

	m := mk("bad new\n")
	if ch := moduletest.Check(t, m); ch == nil {
		t.Fatal("no change")
	}
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "/.skiff-site.conf.") || !strings.Contains(err.Error(), ".tmp/site.conf") || !strings.Contains(err.Error(), "unchanged") {
		t.Fatalf("apply error = %v", err)
	}
	if readFile(t, p) != "good old\n" {
		t.Errorf("live file touched by a failed validate")
	}
	noTemps(t, dir)

	moduletest.Converge(t, func() module.Module { return mk("good new\n") })
	if readFile(t, p) != "good new\n" {
		t.Errorf("valid content not written")
	}
	noTemps(t, dir)
}

func TestSensitiveContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "creds")
	const pw = "s3cr3t-Value"
	if err := os.WriteFile(p, []byte("password=old-"+pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mk := func() module.Module {
		return build(t, map[string]cty.Value{
			"path":    cty.StringVal(p),
			"content": secret.Wrap(cty.StringVal("password=" + pw + "\n")),
			"mode":    cty.StringVal("0600"),
		})
	}
	m := mk()
	probed := moduletest.Probe(t, m)
	if strings.Contains(string(probed.Stdout), "[content]") {
		t.Errorf("probe sent back the content of a sensitive file:\n%s", probed.Stdout)
	}
	if strings.Contains(m.Probe(), pw) {
		t.Errorf("probe script holds the secret")
	}
	ch, err := m.Check(probed)
	moduletest.NoSecret(t, pw, ch, err)
	if err != nil || ch == nil || !ch.Sensitive || ch.Diff != "" {
		t.Fatalf("change = %+v, %v", ch, err)
	}
	moduletest.NoSecret(t, pw, ch, m.Apply(context.Background(), &transporttest.Local{}))
	if again := moduletest.Check(t, mk()); again != nil {
		t.Errorf("not idempotent: %+v", again)
	}

	// A failing validate must not echo the content either.
	v := build(t, map[string]cty.Value{
		"path": cty.StringVal(p), "content": secret.Wrap(cty.StringVal(pw + " v2")),
		"validate": cty.StringVal("cat %s; exit 1"),
	})
	moduletest.Check(t, v)
	err = v.Apply(context.Background(), &transporttest.Local{})
	if err == nil {
		t.Fatal("validate should fail")
	}
	moduletest.NoSecret(t, pw, nil, err)
}

func TestAbsent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gone")
	os.WriteFile(p, []byte("x"), 0o644)
	ch := moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"path": cty.StringVal(p), "state": cty.StringVal("absent")})
	})
	if ch.Action != plan.Delete {
		t.Errorf("change = %+v", ch)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("file still there")
	}
}

func TestMissingParent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "nodir", "f")
	m := build(t, map[string]cty.Value{"path": cty.StringVal(p), "content": cty.StringVal("x")})
	ch := moduletest.Check(t, m)
	if ch == nil || !strings.Contains(ch.Summary, "parent directory "+filepath.Dir(p)+" does not exist yet") {
		t.Fatalf("change = %+v", ch)
	}
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), filepath.Dir(p)) {
		t.Errorf("apply error = %v", err)
	}
}

func TestSourceFromRole(t *testing.T) {
	role := t.TempDir()
	os.MkdirAll(filepath.Join(role, "files"), 0o755)
	os.WriteFile(filepath.Join(role, "files", "motd"), []byte("welcome\n"), 0o644)
	dest := filepath.Join(t.TempDir(), "motd")
	moduletest.Converge(t, func() module.Module {
		a := moduletest.Args("file", "motd", map[string]cty.Value{"path": cty.StringVal(dest), "source": cty.StringVal("motd")})
		a.RoleDir = role
		return moduletest.MustBuild(t, New, a)
	})
	if readFile(t, dest) != "welcome\n" {
		t.Errorf("source not copied")
	}

	a := moduletest.Args("file", "motd", map[string]cty.Value{"path": cty.StringVal(dest), "source": cty.StringVal("nope.txt")})
	a.RoleDir = role
	_, diags := moduletest.Build(New, a)
	moduletest.DiagsContain(t, diags, filepath.Join(role, "files", "nope.txt"))
	if diags[0].Subject.Start.Line != a.AttrRange("source").Start.Line {
		t.Errorf("diagnostic not at source: %v", diags[0].Subject)
	}
}

func TestArgErrors(t *testing.T) {
	p := cty.StringVal("/etc/x")
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"bad mode":        {map[string]cty.Value{"path": p, "content": cty.StringVal(""), "mode": cty.StringVal("rw-r--r--")}, "is not a file mode"},
		"mode too big":    {map[string]cty.Value{"path": p, "content": cty.StringVal(""), "mode": cty.StringVal("99999")}, "is not a file mode"},
		"unknown state":   {map[string]cty.Value{"path": p, "content": cty.StringVal(""), "state": cty.StringVal("gone")}, `"state" must be one of`},
		"unsupported arg": {map[string]cty.Value{"path": p, "content": cty.StringVal(""), "recurse": cty.True}, `no argument named "recurse"`},
		"relative path":   {map[string]cty.Value{"path": cty.StringVal("etc/x"), "content": cty.StringVal("")}, "absolute path"},
		"missing path":    {map[string]cty.Value{"content": cty.StringVal("")}, `needs the argument "path"`},
		"both":            {map[string]cty.Value{"path": p, "content": cty.StringVal(""), "source": cty.StringVal("a")}, "not both"},
		"neither":         {map[string]cty.Value{"path": p}, "Give the file's content"},
		"validate no %s":  {map[string]cty.Value{"path": p, "content": cty.StringVal(""), "validate": cty.StringVal("nginx -t")}, "must contain %s"},
		"secret path":     {map[string]cty.Value{"path": secret.Wrap(p), "content": cty.StringVal("")}, "must not derive from a secret"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("file", "f", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
		})
	}
}

func TestUnknownValuesDoNotPanic(t *testing.T) {
	u := cty.UnknownVal(cty.String)
	for _, vals := range []map[string]cty.Value{
		{"path": u, "content": u, "mode": u, "owner": u, "group": u, "validate": u, "state": u},
		{"path": u, "source": u},
	} {
		m, diags := moduletest.Build(New, moduletest.Args("file", "f", vals))
		if diags.HasErrors() {
			t.Errorf("unknown values gave diagnostics: %v", diags)
		}
		_ = m.Probe()
		_, _ = m.Check(module.Probed{})
	}
}
