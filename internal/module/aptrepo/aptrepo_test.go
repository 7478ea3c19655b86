package aptrepo

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

const testKey = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZQAAABYJKwYBBAHaRw8BAQdA\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"

func strs(v ...string) cty.Value {
	var l []cty.Value
	for _, s := range v {
		l = append(l, cty.StringVal(s))
	}
	return cty.ListVal(l)
}

func repoArgs(name string) map[string]cty.Value {
	return map[string]cty.Value{
		"name":       cty.StringVal(name),
		"uris":       cty.StringVal("https://deb.example.org/debian"),
		"suites":     strs("bookworm"),
		"components": strs("main", "contrib"),
		"key":        cty.StringVal(testKey),
	}
}

// fresh points the sources and keyrings folders at new ones for the test
// (the keyrings folder missing, as before Debian 12).
func fresh(t *testing.T) {
	t.Helper()
	SourcesDir, KeyringDir = t.TempDir(), filepath.Join(t.TempDir(), "keyrings")
}

func build(t *testing.T, args map[string]cty.Value) module.Module {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("apt_repository", "t", args))
}

func apply(t *testing.T, m module.Module) error {
	t.Helper()
	return m.Apply(context.Background(), &transporttest.Local{})
}

func read(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return "(absent)"
	}
	return string(b)
}

// TestConvergeRefreshesOnlyOnChange: the key and the deb822 file are
// written, this repository's lists alone are refreshed, and a second run
// refreshes nothing; a changed suite rewrites the sources file and
// refreshes again.
func TestConvergeRefreshesOnlyOnChange(t *testing.T) {
	fresh(t)
	fakes := moduletest.FakeCommands(t, map[string]string{"apt-get": "exit 0"})
	a := repoArgs("example")
	src, key := filepath.Join(SourcesDir, "example.sources"), filepath.Join(KeyringDir, "example.asc")
	ch := moduletest.Converge(t, func() module.Module { return build(t, a) })
	if want := "create " + key + " (parent directory " + KeyringDir + " does not exist yet: made); create " + src + "; refresh the package lists of example"; ch.Summary != want || ch.Action != "create" {
		t.Errorf("change = %s %q\nwant create %q", ch.Action, ch.Summary, want)
	}
	wantSources := "# skiff manages this file (apt_repository task \"example\"): changes made here are overwritten.\n" +
		"Types: deb\nURIs: https://deb.example.org/debian\nSuites: bookworm\nComponents: main contrib\nSigned-By: " + key + "\n"
	if got := read(t, src); got != wantSources {
		t.Errorf("sources = %q\nwant %q", got, wantSources)
	}
	if !strings.Contains(ch.Diff, "+Signed-By: "+key+"\n") {
		t.Errorf("diff lacks Signed-By:\n%s", ch.Diff)
	}
	if got := read(t, key); got != testKey {
		t.Errorf("key = %q", got)
	}
	calls := fakes.Calls(t)
	if len(calls) != 1 || !strings.Contains(calls[0], "apt-get update -q --error-on=any -o Dir::Etc::SourceList="+src+" -o Dir::Etc::SourceParts=/dev/null") {
		t.Errorf("calls = %q, want one refresh of %s alone", calls, src)
	}

	a["suites"] = strs("trixie")
	ch = moduletest.Converge(t, func() module.Module { return build(t, a) })
	if want := "update " + src + ": content; refresh the package lists of example"; ch.Summary != want {
		t.Errorf("summary = %q, want %q", ch.Summary, want)
	}
	if !strings.Contains(ch.Diff, "-Suites: bookworm\n+Suites: trixie\n") {
		t.Errorf("diff:\n%s", ch.Diff)
	}
	if calls := fakes.Calls(t); len(calls) != 1 {
		t.Errorf("calls = %q, want one refresh", calls)
	}
}

// TestRefreshFailureFails: a refresh apt reports an error for (a bad
// signature, an unreachable server) fails the task.
func TestRefreshFailureFails(t *testing.T) {
	fresh(t)
	moduletest.FakeCommands(t, map[string]string{"apt-get": "echo 'E: The repository is not signed.' >&2; exit 100"})
	m := build(t, repoArgs("failing"))
	moduletest.Check(t, m)
	err := apply(t, m)
	if err == nil || !strings.Contains(err.Error(), "refresh the package lists of failing failed (exit 100): E: The repository is not signed.") {
		t.Fatalf("apply error = %v", err)
	}
}

// TestUndo: a rollback removes new files, brings back replaced ones, and
// then refreshes the lists when the sources file is there again.
func TestUndo(t *testing.T) {
	fresh(t)
	fakes := moduletest.FakeCommands(t, map[string]string{"apt-get": "exit 0"})
	dir := t.TempDir()
	src, key := filepath.Join(SourcesDir, "undone.sources"), filepath.Join(KeyringDir, "undone.asc")
	m := build(t, repoArgs("undone"))
	moduletest.Check(t, m)
	backup, undo, after := moduletest.Reversal(t, m, filepath.Join(dir, "1"))
	moduletest.MustRunFragment(t, "backup", backup)
	if err := apply(t, m); err != nil {
		t.Fatal(err)
	}
	before := read(t, src)

	a := repoArgs("undone")
	a["components"] = strs("main")
	m2 := build(t, a)
	moduletest.Check(t, m2)
	backup2, undo2, after2 := moduletest.Reversal(t, m2, filepath.Join(dir, "2"))
	moduletest.MustRunFragment(t, "backup", backup2)
	if err := apply(t, m2); err != nil {
		t.Fatal(err)
	}
	fakes.Calls(t)
	moduletest.MustRunFragment(t, "undo", undo2)
	moduletest.MustRunFragment(t, "undo again", undo2)
	moduletest.MustRunFragment(t, "after", after2)
	if got := read(t, src); got != before {
		t.Errorf("after undo: %q, want %q", got, before)
	}
	if calls := fakes.Calls(t); len(calls) != 1 || !strings.HasPrefix(calls[0], "apt-get update") {
		t.Errorf("after: calls = %q, want one refresh", calls)
	}
	moduletest.MustRunFragment(t, "undo", undo)
	moduletest.MustRunFragment(t, "after", after)
	if read(t, src) != "(absent)" || read(t, key) != "(absent)" {
		t.Errorf("undo of a new repository left %q, %q", read(t, src), read(t, key))
	}
	if calls := fakes.Calls(t); len(calls) != 0 {
		t.Errorf("after: calls = %q, want none without a sources file", calls)
	}
}

// TestAbsent removes both files and refreshes nothing.
func TestAbsent(t *testing.T) {
	fresh(t)
	fakes := moduletest.FakeCommands(t, map[string]string{"apt-get": "exit 0"})
	moduletest.Converge(t, func() module.Module { return build(t, repoArgs("gone")) })
	fakes.Calls(t)
	ch := moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"name": cty.StringVal("gone"), "state": cty.StringVal("absent")})
	})
	src, key := filepath.Join(SourcesDir, "gone.sources"), filepath.Join(KeyringDir, "gone.asc")
	if want := "remove " + key + "; remove " + src; ch.Summary != want || ch.Action != "delete" {
		t.Errorf("change = %s %q, want delete %q", ch.Action, ch.Summary, want)
	}
	if read(t, src) != "(absent)" || read(t, key) != "(absent)" {
		t.Error("files left")
	}
	if calls := fakes.Calls(t); len(calls) != 0 {
		t.Errorf("calls = %q", calls)
	}
}

// TestBinaryKeyIsArmored: a binary key file is written armored, as gpg
// itself would read it back.
func TestBinaryKeyIsArmored(t *testing.T) {
	dir := t.TempDir()
	bin := []byte{0x98, 0x33, 0x04, 0x65, 0x00, 0x00, 0x00, 0x16, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01}
	p := filepath.Join(dir, "key.gpg")
	os.WriteFile(p, bin, 0o644)
	a := repoArgs("bin")
	a["key"] = cty.StringVal(p)
	m := build(t, a).(*Repo)
	got := string(m.key.Content)
	if !strings.HasPrefix(got, armorBegin+"\n\n") || !strings.HasSuffix(got, "-----END PGP PUBLIC KEY BLOCK-----\n") {
		t.Fatalf("armored = %q", got)
	}
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("no gpg to read the armor back")
	}
	cmd := exec.Command("gpg", "--dearmor")
	cmd.Stdin = strings.NewReader(got)
	out, err := cmd.Output()
	if err != nil || string(out) != string(bin) {
		t.Errorf("gpg --dearmor: %v, %x", err, out)
	}
}

// TestNativeProbeMatchesTheFragment: the helper's answer is the
// fragment's output, byte for byte.
func TestNativeProbeMatchesTheFragment(t *testing.T) {
	fresh(t)
	moduletest.FakeCommands(t, map[string]string{"apt-get": "exit 0"})
	moduletest.Converge(t, func() module.Module { return build(t, repoArgs("native")) })
	other := repoArgs("native")
	other["suites"] = strs("sid")
	for _, a := range []map[string]cty.Value{repoArgs("native"), other, repoArgs("native-absent")} {
		m := build(t, a).(*Repo)
		kind, q, ok := m.NativeProbe()
		if !ok || kind != NativeRepo {
			t.Fatalf("native probe: %q %v", kind, ok)
		}
		raw, _ := json.Marshal(q)
		ans := AnswerRepos([][]byte{raw})[0]
		if !ans.OK {
			t.Fatal("declined")
		}
		out, err := exec.Command("/bin/sh", "-c", "(\n"+m.Probe()+"\n)").Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(ans.Stdout) != string(out) {
			t.Errorf("native\n%s\nfragment\n%s", ans.Stdout, out)
		}
	}
}

func TestArgs(t *testing.T) {
	with := func(k string, v cty.Value) map[string]cty.Value {
		a := repoArgs("x")
		if v == cty.NilVal {
			delete(a, k)
		} else {
			a[k] = v
		}
		return a
	}
	for _, tc := range []struct {
		args map[string]cty.Value
		want string
	}{
		{with("key", cty.NilVal), "Give the repository's signing key"},
		{with("key", cty.StringVal("/nonexistent/key.asc")), "nor a readable file"},
		{with("name", cty.StringVal("../x")), "must be made of letters"},
		{with("components", cty.NilVal), "Give the components of suite"},
		{with("suites", strs("./")), "takes no components"},
		{with("uris", cty.StringVal("deb.example.org")), "is not a URI"},
		{with("uris", cty.NilVal), `"uris" is required`},
		{with("suites", strs("a b")), "is not a single word"},
		{with("types", strs("rpm")), "types must be"},
	} {
		_, diags := moduletest.Build(New, moduletest.Args("apt_repository", "t", tc.args))
		moduletest.DiagsContain(t, diags, tc.want)
	}
}
