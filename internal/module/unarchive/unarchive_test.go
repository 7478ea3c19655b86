package unarchive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// files maps names (with "/" for folders) to content.
type files map[string]string

func tarball(t *testing.T, fs files) []byte {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, name := range sorted(fs) {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(fs[name])), Typeflag: tar.TypeReg, Uid: 1234, Gid: 1234}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(fs[name]))
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	return gz.Bytes()
}

func zipball(t *testing.T, fs files) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range sorted(fs) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(fs[name]))
	}
	zw.Close()
	return b.Bytes()
}

func sorted(fs files) []string {
	var names []string
	for n := range fs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// tree lists the regular files under dir, "name=content".
func tree(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel+"="+string(b))
		}
		return nil
	})
	return strings.Join(out, " ")
}

func write(t *testing.T, p string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func build(t *testing.T, args map[string]cty.Value) module.Module {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("unarchive", "t", args))
}

func apply(t *testing.T, m module.Module) {
	t.Helper()
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
}

// TestConvergeFromLocalSource: an uploaded tar.gz is extracted, one
// level stripped, into a folder made with its parents; a second run
// extracts nothing, even after a file in the folder changed (the record
// names the archive, not the folder's content).
func TestConvergeFromLocalSource(t *testing.T) {
	dir := t.TempDir()
	src := write(t, filepath.Join(dir, "app-1.0.tar.gz"), tarball(t, files{"app-1.0/": "", "app-1.0/bin/": "", "app-1.0/bin/app": "v1", "app-1.0/README": "read me"}))
	dest := filepath.Join(dir, "opt", "app", "current")
	a := map[string]cty.Value{"source": cty.StringVal(src), "path": cty.StringVal(dest), "strip_components": cty.NumberIntVal(1)}
	ch := moduletest.Converge(t, func() module.Module { return build(t, a) })
	if want := "extract " + src + " into " + dest + " (sha256 " + module.SHA256(mustRead(t, src))[:12] + ") (parent directory " + filepath.Dir(dest) + " does not exist yet: made)"; ch.Summary != want || ch.Action != "create" {
		t.Errorf("change = %s %q\nwant create %q", ch.Action, ch.Summary, want)
	}
	if got := tree(t, dest); got != "README=read me bin/app=v1" {
		t.Errorf("tree = %q", got)
	}
	out, _ := exec.Command("stat", "-c", "%u %a", dest, filepath.Join(dest, "bin", "app")).Output()
	if want := "0 755\n0 644\n"; os.Getuid() == 0 && string(out) != want {
		t.Errorf("owner and mode = %q, want %q (root's, whoever made the archive)", out, want)
	}
	os.WriteFile(filepath.Join(dest, "README"), []byte("edited"), 0o644)
	if ch := moduletest.Check(t, build(t, a)); ch != nil {
		t.Errorf("change %+v after an edit in the folder", *ch)
	}
	if left, _ := os.ReadDir(filepath.Dir(dest)); len(left) != 1 {
		t.Errorf("%s holds %d entries, want the folder alone (no private folder left)", filepath.Dir(dest), len(left))
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNewVersionReplacesAndUndoRestores: another archive replaces the
// folder's whole content; the undo brings the old content (and record)
// back, so the next check plans the new archive again; the undo of a new
// folder removes it.
func TestNewVersionReplacesAndUndoRestores(t *testing.T) {
	dir := t.TempDir()
	v1 := write(t, filepath.Join(dir, "v1.tar.gz"), tarball(t, files{"a": "1", "old-only": "x"}))
	v2 := write(t, filepath.Join(dir, "v2.tar.gz"), tarball(t, files{"a": "2", "sub/": "", "sub/b": "2"}))
	dest := filepath.Join(dir, "app")
	moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"source": cty.StringVal(v1), "path": cty.StringVal(dest)})
	})

	a2 := map[string]cty.Value{"source": cty.StringVal(v2), "path": cty.StringVal(dest)}
	m := build(t, a2)
	ch := moduletest.Check(t, m)
	if ch == nil || ch.Action != "update" || !strings.Contains(ch.Summary, ", replacing the folder's content (extracted from sha256 "+module.SHA256(mustRead(t, v1))[:12]+")") {
		t.Fatalf("change = %+v", ch)
	}
	backup, undo, _ := moduletest.Reversal(t, m, filepath.Join(dir, "run"))
	moduletest.MustRunFragment(t, "backup", backup)
	apply(t, m)
	if got := tree(t, dest); got != "a=2 sub/b=2" {
		t.Fatalf("tree = %q", got)
	}
	moduletest.MustRunFragment(t, "undo", undo)
	moduletest.MustRunFragment(t, "undo again", undo)
	if got := tree(t, dest); got != "a=1 old-only=x" {
		t.Errorf("after undo: %q", got)
	}
	if ch := moduletest.Check(t, build(t, map[string]cty.Value{"source": cty.StringVal(v1), "path": cty.StringVal(dest)})); ch != nil {
		t.Errorf("after undo, v1 is not recorded: %+v", *ch)
	}

	fresh := filepath.Join(dir, "fresh")
	m = build(t, map[string]cty.Value{"source": cty.StringVal(v2), "path": cty.StringVal(fresh)})
	moduletest.Check(t, m)
	backup, undo, _ = moduletest.Reversal(t, m, filepath.Join(dir, "run2"))
	moduletest.MustRunFragment(t, "backup", backup)
	apply(t, m)
	moduletest.MustRunFragment(t, "undo", undo)
	if _, err := os.Lstat(fresh); !os.IsNotExist(err) {
		t.Errorf("undo left %s: %v", fresh, err)
	}
	if ch := moduletest.Check(t, build(t, map[string]cty.Value{"source": cty.StringVal(v2), "path": cty.StringVal(fresh)})); ch == nil || ch.Action != "create" {
		t.Errorf("after undo of a new folder: %+v", ch)
	}
}

// TestForeignFolderRefused: a folder holding files skiff did not extract
// is never replaced; an empty one is taken.
func TestForeignFolderRefused(t *testing.T) {
	dir := t.TempDir()
	src := write(t, filepath.Join(dir, "a.tar.gz"), tarball(t, files{"a": "1"}))
	dest := filepath.Join(dir, "data")
	os.MkdirAll(dest, 0o755)
	os.WriteFile(filepath.Join(dest, "precious"), []byte("keep"), 0o644)
	m := build(t, map[string]cty.Value{"source": cty.StringVal(src), "path": cty.StringVal(dest)})
	if _, err := m.Check(moduletest.Probe(t, m)); err == nil || !strings.Contains(err.Error(), dest+" holds files skiff did not extract") {
		t.Fatalf("check error = %v", err)
	}
	os.Remove(filepath.Join(dest, "precious"))
	ch := moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"source": cty.StringVal(src), "path": cty.StringVal(dest)})
	})
	if !strings.HasSuffix(ch.Summary, " (an empty folder)") {
		t.Errorf("summary = %q", ch.Summary)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(dest, link)
	m = build(t, map[string]cty.Value{"source": cty.StringVal(src), "path": cty.StringVal(link)})
	if _, err := m.Check(moduletest.Probe(t, m)); err == nil || !strings.Contains(err.Error(), "is a symbolic link, not a folder") {
		t.Fatalf("check error = %v", err)
	}
}

// TestRemoteSourceZip: an archive on the host, zip, stripped; an archive
// not there yet is planned (an earlier task may download it).
func TestRemoteSourceZip(t *testing.T) {
	if _, err := exec.LookPath("unzip"); err != nil {
		t.Skip("no unzip on this machine")
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "dist.zip")
	dest := filepath.Join(dir, "dist")
	a := map[string]cty.Value{"remote_source": cty.StringVal(archive), "path": cty.StringVal(dest), "strip_components": cty.NumberIntVal(1)}
	if ch := moduletest.Check(t, build(t, a)); ch == nil || !strings.HasSuffix(ch.Summary, " (the archive is not on the host yet)") {
		t.Fatalf("change = %+v", ch)
	}
	write(t, archive, zipball(t, files{"top/x": "x", "top/d/y": "y", "stray": "dropped"}))
	moduletest.Converge(t, func() module.Module { return build(t, a) })
	if got := tree(t, dest); got != "d/y=y x=x" {
		t.Errorf("tree = %q", got)
	}
	// The host's archive changes: it is extracted anew.
	write(t, archive, zipball(t, files{"top/x": "x2"}))
	moduletest.Converge(t, func() module.Module { return build(t, a) })
	if got := tree(t, dest); got != "x=x2" {
		t.Errorf("tree = %q", got)
	}
}

// TestTarXz: a tar.xz on the host, with an owner for the whole tree.
func TestTarXz(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz on this machine")
	}
	if os.Getuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "a.tar.gz")
	write(t, plain, tarball(t, files{"a/": "", "a/f": "f"}))
	out, err := exec.Command("sh", "-c", "gzip -dc < "+plain+" | xz > "+dir+"/a.tar.xz").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	dest := filepath.Join(dir, "x")
	a := map[string]cty.Value{"remote_source": cty.StringVal(dir + "/a.tar.xz"), "path": cty.StringVal(dest), "owner": cty.StringVal("nobody")}
	moduletest.Converge(t, func() module.Module { return build(t, a) })
	got, _ := exec.Command("stat", "-c", "%U", dest, dest+"/a", dest+"/a/f").Output()
	if string(got) != "nobody\nnobody\nnobody\n" {
		t.Errorf("owners = %q", got)
	}
}

// TestMissingTool: a host without the program the format needs fails at
// the check, naming it.
func TestMissingTool(t *testing.T) {
	dir := t.TempDir()
	src := write(t, filepath.Join(dir, "a.zip"), zipball(t, files{"a": "1"}))
	m := build(t, map[string]cty.Value{"source": cty.StringVal(src), "path": cty.StringVal(filepath.Join(dir, "x"))})
	frag := m.Probe()
	empty := t.TempDir()
	res, err := (&transporttest.Local{}).Run(context.Background(), "PATH="+empty+"\n(\n"+frag+"\n)\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Check(module.Probed{Stdout: res.Stdout}); err == nil || !strings.Contains(err.Error(), "the host lacks unzip, needed to extract a zip archive") {
		t.Fatalf("check error = %v", err)
	}
}

func TestArgs(t *testing.T) {
	dir := t.TempDir()
	src := write(t, filepath.Join(dir, "a.tar.gz"), []byte("x"))
	odd := write(t, filepath.Join(dir, "a.rar"), []byte("x"))
	for _, tc := range []struct {
		args map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{"path": cty.StringVal("/opt/a")}, "Give the archive"},
		{map[string]cty.Value{"source": cty.StringVal(src), "remote_source": cty.StringVal("/a.zip"), "path": cty.StringVal("/opt/a")}, "not both"},
		{map[string]cty.Value{"source": cty.StringVal(odd), "path": cty.StringVal("/opt/a")}, "Cannot tell the format"},
		{map[string]cty.Value{"source": cty.StringVal(src), "path": cty.StringVal("/opt/a"), "format": cty.StringVal("rar")}, `format must be "tar.gz"`},
		{map[string]cty.Value{"source": cty.StringVal(src), "path": cty.StringVal("/opt/a"), "strip_components": cty.NumberIntVal(-1)}, "0 or more"},
		{map[string]cty.Value{"source": cty.StringVal(src), "path": cty.StringVal("/")}, "must not be /"},
		{map[string]cty.Value{"source": cty.StringVal(dir + "/none.tar.gz"), "path": cty.StringVal("/opt/a")}, "Cannot read the archive"},
	} {
		_, diags := moduletest.Build(New, moduletest.Args("unarchive", "t", tc.args))
		moduletest.DiagsContain(t, diags, tc.want)
	}
}

// TestPlantedLinkAbove: a link another user planted above the folder is
// never followed: nothing is extracted where it leads.
func TestPlantedLinkAbove(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("a link another user owns needs root to make")
	}
	dir := t.TempDir()
	src := write(t, filepath.Join(dir, "a.tar.gz"), tarball(t, files{"a": "1"}))
	elsewhere := filepath.Join(dir, "elsewhere")
	os.Mkdir(elsewhere, 0o755)
	planted := filepath.Join(dir, "srv")
	os.Symlink(elsewhere, planted)
	if err := os.Lchown(planted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	m := build(t, map[string]cty.Value{"source": cty.StringVal(src), "path": cty.StringVal(filepath.Join(planted, "app"))})
	moduletest.Check(t, m)
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "is a symbolic link owned by uid 65534, not root: not followed") {
		t.Fatalf("apply error = %v", err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("the extraction followed the planted link: %d entries in %s", len(entries), elsewhere)
	}
}

// TestRemoteSourceSwapped: a remote_source that changed between the
// check and the apply (swapped for another file, or a link to one) is
// not extracted.
func TestRemoteSourceSwapped(t *testing.T) {
	dir := t.TempDir()
	archive := write(t, filepath.Join(dir, "a.tar.gz"), tarball(t, files{"a": "1"}))
	secret := write(t, filepath.Join(dir, "secret.tar.gz"), tarball(t, files{"shadow": "root only"}))
	dest := filepath.Join(dir, "x")
	m := build(t, map[string]cty.Value{"remote_source": cty.StringVal(archive), "path": cty.StringVal(dest)})
	if moduletest.Check(t, m) == nil {
		t.Fatal("no change")
	}
	os.Remove(archive)
	os.Symlink(secret, archive)
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), archive+" changed since it was checked: nothing extracted") {
		t.Fatalf("apply error = %v", err)
	}
	if _, err := os.Lstat(dest); !os.IsNotExist(err) {
		t.Errorf("%s exists", dest)
	}
}

// TestNativeProbeMatchesTheFragment: the helper's answer is the
// fragment's output, byte for byte, in each state the folder can be in.
func TestNativeProbeMatchesTheFragment(t *testing.T) {
	dir := t.TempDir()
	archive := write(t, filepath.Join(dir, "a.tar.gz"), tarball(t, files{"a": "1"}))
	extracted := filepath.Join(dir, "extracted")
	moduletest.Converge(t, func() module.Module {
		return build(t, map[string]cty.Value{"source": cty.StringVal(archive), "path": cty.StringVal(extracted)})
	})
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	os.MkdirAll(filepath.Join(dir, "full", "x"), 0o755)
	os.Symlink(extracted, filepath.Join(dir, "link"))
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	for _, a := range []map[string]cty.Value{
		{"source": cty.StringVal(archive), "path": cty.StringVal(extracted)},
		{"remote_source": cty.StringVal(archive), "path": cty.StringVal(extracted)},
		{"remote_source": cty.StringVal(dir + "/none.zip"), "path": cty.StringVal(dir + "/new/x")},
		{"source": cty.StringVal(archive), "path": cty.StringVal(dir + "/empty")},
		{"source": cty.StringVal(archive), "path": cty.StringVal(dir + "/full")},
		{"source": cty.StringVal(archive), "path": cty.StringVal(dir + "/link")},
		{"source": cty.StringVal(archive), "path": cty.StringVal(dir + "/file")},
		{"source": cty.StringVal(archive), "path": cty.StringVal(dir + "/f"), "format": cty.StringVal("tar.xz")},
	} {
		m := build(t, a).(*Unarchive)
		kind, q, ok := m.NativeProbe()
		if !ok || kind != NativeUnarchive {
			t.Fatalf("native probe: %q %v", kind, ok)
		}
		raw, _ := json.Marshal(q)
		ans := AnswerUnarchives([][]byte{raw})[0]
		if !ans.OK {
			t.Fatalf("%v: declined", a)
		}
		out, err := exec.Command("/bin/sh", "-c", "(\n"+m.Probe()+"\n)").Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(ans.Stdout) != string(out) {
			t.Errorf("%v:\nnative\n%s\nfragment\n%s", a, ans.Stdout, out)
		}
	}
}
