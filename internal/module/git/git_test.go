package git

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-git-")
	if err != nil {
		panic(err)
	}
	filestate.StagingDir = dir + "/staging"
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// origin is a bare repository with two commits on main, the first tagged
// v1 (annotated); it returns the repository and both commits.
func origin(t *testing.T) (repo, first, second string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on this machine")
	}
	dir := t.TempDir()
	repo = filepath.Join(dir, "origin.git")
	work := filepath.Join(dir, "work")
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(dir, "init", "-q", "--bare", "--initial-branch=main", repo)
	run(dir, "init", "-q", "--initial-branch=main", work)
	os.WriteFile(filepath.Join(work, "VERSION"), []byte("1\n"), 0o644)
	run(work, "add", "VERSION")
	run(work, "commit", "-q", "-m", "one")
	run(work, "tag", "-a", "v1", "-m", "release 1")
	os.WriteFile(filepath.Join(work, "VERSION"), []byte("2\n"), 0o644)
	run(work, "commit", "-q", "-am", "two")
	run(work, "push", "-q", repo, "main", "v1")
	return repo, run(work, "rev-parse", "HEAD~1"), run(work, "rev-parse", "HEAD")
}

func build(t *testing.T, args map[string]cty.Value) module.Module {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("git", "t", args))
}

func args(repo, path, version string) map[string]cty.Value {
	a := map[string]cty.Value{"repo": cty.StringVal(repo), "path": cty.StringVal(path)}
	if version != "" {
		a["version"] = cty.StringVal(version)
	}
	return a
}

func headOf(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("rev-parse in %s: %v", dir, err)
	}
	return strings.TrimSpace(string(out))
}

// TestCloneMoveAndUndo: a tag is cloned shallow; moving to main plans
// both commits; the undo moves back, and the undo of the clone removes it.
func TestCloneMoveAndUndo(t *testing.T) {
	repo, first, second := origin(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "srv", "app")
	a := args(repo, dest, "v1")
	a["depth"] = cty.NumberIntVal(1)
	var clone module.Module
	ch := moduletest.Converge(t, func() module.Module {
		m := build(t, a)
		if clone == nil {
			clone = m // the one that cloned
		}
		return m
	})
	if want := "clone " + repo + " at v1 (" + first[:12] + ") into " + dest; ch.Summary != want || ch.Action != "create" {
		t.Errorf("change = %s %q, want create %q", ch.Action, ch.Summary, want)
	}
	if headOf(t, dest) != first {
		t.Fatalf("HEAD = %s, want %s", headOf(t, dest), first)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "VERSION")); string(b) != "1\n" {
		t.Errorf("VERSION = %q", b)
	}
	if out, _ := exec.Command("git", "-C", dest, "rev-parse", "--is-shallow-repository").Output(); string(out) != "true\n" {
		t.Errorf("shallow = %q, want a clone of depth 1", out)
	}

	m := build(t, args(repo, dest, "main"))
	ch = moduletest.Check(t, m)
	if want := "move " + dest + " from " + first[:12] + " to " + second[:12] + " at main (" + second[:12] + ")"; ch == nil || ch.Summary != want || ch.Action != "update" {
		t.Fatalf("change = %+v, want update %q", ch, want)
	}
	backup, undo, _ := moduletest.Reversal(t, m, filepath.Join(dir, "run"))
	moduletest.MustRunFragment(t, "backup", backup)
	if err := m.Apply(t.Context(), local()); err != nil {
		t.Fatal(err)
	}
	if headOf(t, dest) != second {
		t.Fatalf("HEAD = %s, want %s", headOf(t, dest), second)
	}
	if ch := moduletest.Check(t, build(t, args(repo, dest, "main"))); ch != nil {
		t.Errorf("not idempotent: %+v", *ch)
	}
	moduletest.MustRunFragment(t, "undo", undo)
	moduletest.MustRunFragment(t, "undo again", undo)
	if headOf(t, dest) != first {
		t.Errorf("after undo HEAD = %s, want %s", headOf(t, dest), first)
	}

	// The first clone's undo removes the folder.
	_, undo, _ = moduletest.Reversal(t, clone, filepath.Join(dir, "run0"))
	moduletest.MustRunFragment(t, "undo clone", undo)
	if _, err := os.Lstat(dest); !os.IsNotExist(err) {
		t.Errorf("undo left %s: %v", dest, err)
	}
}

// TestCommitAndDefaultBranch: a full commit id needs no lookup; no
// version is the remote's default branch.
func TestCommitAndDefaultBranch(t *testing.T) {
	repo, first, second := origin(t)
	dir := t.TempDir()
	moduletest.Converge(t, func() module.Module { return build(t, args(repo, dir+"/a", first)) })
	if headOf(t, dir+"/a") != first {
		t.Errorf("HEAD = %s, want %s", headOf(t, dir+"/a"), first)
	}
	ch := moduletest.Converge(t, func() module.Module { return build(t, args(repo, dir+"/b", "")) })
	if !strings.Contains(ch.Summary, " at HEAD ("+second[:12]+")") || headOf(t, dir+"/b") != second {
		t.Errorf("summary %q, HEAD %s", ch.Summary, headOf(t, dir+"/b"))
	}
}

// TestRefused: what skiff does not touch is an error at the check.
func TestRefused(t *testing.T) {
	repo, first, _ := origin(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "app")
	moduletest.Converge(t, func() module.Module { return build(t, args(repo, dest, "v1")) })
	checkErr := func(a map[string]cty.Value, want string) {
		t.Helper()
		m := build(t, a)
		if _, err := m.Check(moduletest.Probe(t, m)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check error = %v, want %q", err, want)
		}
	}
	checkErr(args(repo, dest, "nope"), "has no branch or tag nope")
	checkErr(args(dir+"/missing.git", dest, "main"), "git ls-remote "+dir+"/missing.git failed on the host")

	os.WriteFile(filepath.Join(dest, "VERSION"), []byte("edited\n"), 0o644)
	checkErr(args(repo, dest, "main"), "has local changes to tracked files")
	if ch := moduletest.Check(t, build(t, args(repo, dest, first))); ch != nil {
		t.Errorf("a clone at the wanted commit, with local changes: %+v", *ch)
	}
	os.WriteFile(filepath.Join(dest, "VERSION"), []byte("1\n"), 0o644)

	other := filepath.Join(dir, "other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "x"), nil, 0o644)
	checkErr(args(repo, other, "main"), "holds files that are not a clone")
	os.Symlink(dest, filepath.Join(dir, "link"))
	checkErr(args(repo, filepath.Join(dir, "link"), "main"), "is a symbolic link")
	checkErr(args("/srv/elsewhere.git", dest, first), `is a clone of "`+repo+`", not of /srv/elsewhere.git`)

	if os.Getuid() == 0 {
		if out, err := exec.Command("chown", "-R", "nobody", dest).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
		checkErr(args(repo, dest, "main"), "owned by uid 65534, not root")
	}
}

// TestEmptyFolder: an empty folder takes a clone; its undo leaves an
// empty folder again.
func TestEmptyFolder(t *testing.T) {
	repo, _, _ := origin(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "app")
	os.Mkdir(dest, 0o755)
	m := build(t, args(repo, dest, "main"))
	ch := moduletest.Check(t, m)
	if ch == nil || !strings.HasSuffix(ch.Summary, " (an empty folder)") {
		t.Fatalf("change = %+v", ch)
	}
	_, undo, _ := moduletest.Reversal(t, m, filepath.Join(dir, "run"))
	if err := m.Apply(t.Context(), local()); err != nil {
		t.Fatal(err)
	}
	moduletest.MustRunFragment(t, "undo", undo)
	if entries, err := os.ReadDir(dest); err != nil || len(entries) != 0 {
		t.Errorf("after undo: %v, %d entries", err, len(entries))
	}
}

func TestResolve(t *testing.T) {
	const ls = "1111111111111111111111111111111111111111\tHEAD\n" +
		"2222222222222222222222222222222222222222\trefs/heads/main\n" +
		"3333333333333333333333333333333333333333\trefs/heads/v2\n" +
		"4444444444444444444444444444444444444444\trefs/tags/v2\n" +
		"5555555555555555555555555555555555555555\trefs/tags/v1\n" +
		"6666666666666666666666666666666666666666\trefs/tags/v1^{}\n" +
		"7777777777777777777777777777777777777777\trefs/heads/feature/main\n"
	for version, want := range map[string]string{
		"HEAD": "1111111111111111111111111111111111111111", "main": "2222222222222222222222222222222222222222",
		"v2": "4444444444444444444444444444444444444444", "v1": "6666666666666666666666666666666666666666",
		"refs/heads/v2": "3333333333333333333333333333333333333333", "feature": "",
	} {
		if got, _ := Resolve(ls, version); got != want {
			t.Errorf("Resolve(%s) = %q, want %q", version, got, want)
		}
	}
}

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		args map[string]cty.Value
		want string
	}{
		{args("https://user:hunter2@git.example.org/a.git", "/srv/a", ""), "must not hold a password"},
		{args("--upload-pack=touch /tmp/x", "/srv/a", ""), "repo must be a URL or a path"},
		{args("https://git.example.org/a.git", "/srv/a", "--help"), "version must be a branch"},
		{args("https://git.example.org/a.git", "/srv/a", "a..b"), "version must be a branch"},
		{args("https://git.example.org/a.git", "srv/a", ""), "must be an absolute path"},
		{map[string]cty.Value{"repo": cty.StringVal("https://git.example.org/a.git"), "path": cty.StringVal("/srv/a"), "depth": cty.NumberIntVal(-1)}, "depth must be"},
	} {
		_, diags := moduletest.Build(New, moduletest.Args("git", "t", tc.args))
		moduletest.DiagsContain(t, diags, tc.want)
	}
}

func local() *transporttest.Local { return &transporttest.Local{} }
