package download

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// server serves files by path and counts the requests of each.
type server struct {
	*httptest.Server
	files map[string]string
	hits  map[string]*atomic.Int32
}

func serve(t *testing.T, files map[string]string) *server {
	t.Helper()
	s := &server{files: files, hits: map[string]*atomic.Int32{}}
	for p := range files {
		s.hits[p] = new(atomic.Int32)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.hits[r.URL.Path].Add(1)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func needFetcher(t *testing.T) {
	t.Helper()
	for _, f := range Fetchers {
		if _, err := os.Stat(f); err == nil {
			return
		}
	}
	t.Skip("neither curl nor wget on this machine")
}

func build(t *testing.T, args map[string]cty.Value) module.Module {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("download", "t", args))
}

func args(url, path, sha string) map[string]cty.Value {
	return map[string]cty.Value{"url": cty.StringVal(url), "path": cty.StringVal(path), "sha256": cty.StringVal(sha)}
}

// TestConvergeFetchesOnce: a missing file is fetched and placed (0644),
// and once it is in place no later run fetches it again, not even to fix
// its mode.
func TestConvergeFetchesOnce(t *testing.T) {
	needFetcher(t)
	const body = "release 1.0\n"
	s := serve(t, map[string]string{"/app-1.0.tar.gz": body})
	p := filepath.Join(t.TempDir(), "app.tar.gz")
	a := args(s.URL+"/app-1.0.tar.gz", p, sum(body))
	ch := moduletest.Converge(t, func() module.Module { return build(t, a) })
	if want := "download " + s.URL + "/app-1.0.tar.gz to " + p + " (sha256 " + sum(body)[:12] + ")"; ch.Summary != want || ch.Action != "create" {
		t.Errorf("change = %s %q, want create %q", ch.Action, ch.Summary, want)
	}
	if got, _ := os.ReadFile(p); string(got) != body {
		t.Errorf("file = %q", got)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v", fi.Mode())
	}

	a["mode"] = cty.StringVal("0600")
	ch = moduletest.Converge(t, func() module.Module { return build(t, a) })
	if want := "update " + p + ": mode 0644 -> 0600"; ch.Summary != want {
		t.Errorf("summary = %q, want %q", ch.Summary, want)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v", fi.Mode())
	}
	if n := s.hits["/app-1.0.tar.gz"].Load(); n != 1 {
		t.Errorf("fetched %d times, want once", n)
	}
}

// TestReplaceAndUndo: a file with other content is planned with both
// digests, replaced, and the undo brings the old content back; a new file
// is removed by its undo.
func TestReplaceAndUndo(t *testing.T) {
	needFetcher(t)
	const body = "release 2.0\n"
	s := serve(t, map[string]string{"/app.tar.gz": body})
	dir := t.TempDir()
	p := filepath.Join(dir, "app.tar.gz")
	os.WriteFile(p, []byte("release 1.0\n"), 0o640)

	m := build(t, args(s.URL+"/app.tar.gz", p, sum(body)))
	ch := moduletest.Check(t, m)
	if ch == nil || ch.Action != "update" || ch.Summary != "download "+s.URL+"/app.tar.gz to "+p+": sha256 "+sum("release 1.0\n")[:12]+" -> "+sum(body)[:12] {
		t.Fatalf("change = %+v", ch)
	}
	backup, undo, _ := moduletest.Reversal(t, m, filepath.Join(dir, "run"))
	moduletest.MustRunFragment(t, "backup", backup)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != body {
		t.Fatalf("file = %q", got)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want the replaced file's 0640", fi.Mode())
	}
	moduletest.MustRunFragment(t, "undo", undo)
	moduletest.MustRunFragment(t, "undo again", undo)
	if got, _ := os.ReadFile(p); string(got) != "release 1.0\n" {
		t.Errorf("after undo: %q", got)
	}

	fresh := filepath.Join(dir, "new.tar.gz")
	m = build(t, args(s.URL+"/app.tar.gz", fresh, sum(body)))
	moduletest.Check(t, m)
	backup, undo, _ = moduletest.Reversal(t, m, filepath.Join(dir, "run2"))
	moduletest.MustRunFragment(t, "backup", backup)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	moduletest.MustRunFragment(t, "undo", undo)
	if _, err := os.Lstat(fresh); !os.IsNotExist(err) {
		t.Errorf("undo left %s: %v", fresh, err)
	}
}

// TestWrongDigestPlacesNothing: bytes whose sha256 is not the wanted one
// are never placed, and leave nothing in the staging folder.
func TestWrongDigestPlacesNothing(t *testing.T) {
	needFetcher(t)
	s := serve(t, map[string]string{"/app.tar.gz": "tampered\n"})
	p := filepath.Join(t.TempDir(), "app.tar.gz")
	os.WriteFile(p, []byte("old\n"), 0o644)
	m := build(t, args(s.URL+"/app.tar.gz", p, sum("genuine\n")))
	if moduletest.Check(t, m) == nil {
		t.Fatal("no change")
	}
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "the content's sha256 is "+sum("tampered\n")+", not "+sum("genuine\n")+": nothing placed") {
		t.Fatalf("apply error = %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "old\n" {
		t.Errorf("file = %q", got)
	}
	if left, _ := os.ReadDir(filestate.StagingDir); len(left) != 0 {
		t.Errorf("staging folder keeps %d file(s)", len(left))
	}
}

// TestHTTPError: a server's error status fails the task; nothing is placed.
func TestHTTPError(t *testing.T) {
	needFetcher(t)
	s := serve(t, map[string]string{})
	p := filepath.Join(t.TempDir(), "app.tar.gz")
	m := build(t, args(s.URL+"/missing.tar.gz", p, sum("x")))
	moduletest.Check(t, m)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err == nil {
		t.Fatal("a 404 was placed")
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("%s exists after a failed download", p)
	}
}

// TestCertificateVerified: an https server whose certificate the host
// does not trust is refused.
func TestCertificateVerified(t *testing.T) {
	needFetcher(t)
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("x")) }))
	defer s.Close()
	p := filepath.Join(t.TempDir(), "x")
	m := build(t, args(s.URL+"/x", p, sum("x")))
	moduletest.Check(t, m)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err == nil {
		t.Fatal("fetched from a server with an untrusted certificate")
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("%s exists", p)
	}
}

// TestChecksumURL: the digest is read from a checksum file on the server,
// in sha256sum's or BSD's format.
func TestChecksumURL(t *testing.T) {
	needFetcher(t)
	const body = "tool 3\n"
	s := serve(t, map[string]string{
		"/tool.tar.gz":    body,
		"/SHA256SUMS":     sum("other") + "  other.tar.gz\n" + sum(body) + " *tool.tar.gz\n",
		"/SHA256SUMS.bsd": "SHA256 (tool.tar.gz) = " + sum(body) + "\n",
		"/WRONG":          sum("other") + "  tool.tar.gz\n",
	})
	dir := t.TempDir()
	for _, sums := range []string{"/SHA256SUMS", "/SHA256SUMS.bsd"} {
		p := filepath.Join(dir, filepath.Base(sums))
		a := map[string]cty.Value{"url": cty.StringVal(s.URL + "/tool.tar.gz"), "path": cty.StringVal(p), "checksum_url": cty.StringVal(s.URL + sums)}
		moduletest.Converge(t, func() module.Module { return build(t, a) })
		if got, _ := os.ReadFile(p); string(got) != body {
			t.Errorf("%s: file = %q", sums, got)
		}
	}
	p := filepath.Join(dir, "wrong")
	m := build(t, map[string]cty.Value{"url": cty.StringVal(s.URL + "/tool.tar.gz"), "path": cty.StringVal(p), "checksum_url": cty.StringVal(s.URL + "/WRONG")})
	moduletest.Check(t, m)
	if err := m.Apply(context.Background(), &transporttest.Local{}); err == nil || !strings.Contains(err.Error(), "nothing placed") {
		t.Fatalf("apply error = %v", err)
	}
	m = build(t, map[string]cty.Value{"url": cty.StringVal(s.URL + "/tool.tar.gz"), "path": cty.StringVal(p), "checksum_url": cty.StringVal(s.URL + "/nothing")})
	if _, err := m.Check(moduletest.Probe(t, m)); err == nil || !strings.Contains(err.Error(), "the host cannot read checksum_url") {
		t.Fatalf("check error = %v", err)
	}
}

// TestNoFetcher: a host with neither curl nor wget fails at the check,
// before any change, saying so; a file already in place needs neither.
func TestNoFetcher(t *testing.T) {
	old := Fetchers
	Fetchers = []string{"/nonexistent/curl", "/nonexistent/wget"}
	defer func() { Fetchers = old }()
	dir := t.TempDir()
	p := filepath.Join(dir, "app.tar.gz")
	m := build(t, args("https://example.org/app.tar.gz", p, sum("x")))
	_, err := m.Check(moduletest.Probe(t, m))
	if err == nil || !strings.Contains(err.Error(), "the host has neither curl nor wget to download https://example.org/app.tar.gz with") {
		t.Fatalf("check error = %v", err)
	}
	os.WriteFile(p, []byte("x"), 0o644)
	if ch := moduletest.Check(t, build(t, args("https://example.org/app.tar.gz", p, sum("x")))); ch != nil {
		t.Errorf("change %+v for a file in place", *ch)
	}
}

// TestNativeProbeMatchesTheFragment: the helper's answer is the
// fragment's output, byte for byte.
func TestNativeProbeMatchesTheFragment(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "present")
	os.WriteFile(present, []byte("content\n"), 0o640)
	for _, p := range []string{present, filepath.Join(dir, "absent"), dir} {
		m := build(t, args("https://example.org/a", p, sum("x"))).(*Download)
		kind, q, ok := m.NativeProbe()
		if !ok || kind != NativeDownload {
			t.Fatalf("native probe: %q %v", kind, ok)
		}
		raw, _ := json.Marshal(q)
		ans := AnswerDownloads([][]byte{raw})[0]
		if !ans.OK {
			t.Fatalf("%s: declined", p)
		}
		out, err := exec.Command("/bin/sh", "-c", "(\n"+m.Probe()+"\n)").Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(ans.Stdout) != string(out) {
			t.Errorf("%s: native\n%s\nfragment\n%s", p, ans.Stdout, out)
		}
	}
	m := build(t, map[string]cty.Value{"url": cty.StringVal("https://example.org/a"), "path": cty.StringVal(present), "checksum_url": cty.StringVal("https://example.org/SUMS")}).(*Download)
	if _, _, ok := m.NativeProbe(); ok {
		t.Error("a probe that reads checksum_url has a native answer")
	}
}

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		args map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{"url": cty.StringVal("https://example.org/a"), "path": cty.StringVal("/opt/a")}, "Give the file's sha256"},
		{args("file:///etc/shadow", "/opt/a", sum("x")), "url must be an http:// or https:// URL"},
		{args("-o/etc/passwd", "/opt/a", sum("x")), "url must be an http:// or https:// URL"},
		{args("https://example.org/a", "/opt/a", "abc"), "sha256 must be 64 hexadecimal digits"},
		{args("https://example.org/a", "opt/a", sum("x")), "must be an absolute path"},
		{map[string]cty.Value{"url": cty.StringVal("https://example.org/a"), "path": cty.StringVal("/opt/a"), "sha256": cty.StringVal(sum("x")), "checksum_url": cty.StringVal("https://example.org/S")}, "either sha256 or checksum_url"},
	} {
		_, diags := moduletest.Build(New, moduletest.Args("download", "t", tc.args))
		moduletest.DiagsContain(t, diags, tc.want)
	}
}

func TestChecksumFor(t *testing.T) {
	a, b := sum("a"), sum("b")
	for _, tc := range []struct{ text, want string }{
		{a + "  x.tar.gz\n" + b + "  y.tar.gz\n", b},
		{a + " *dist/y.tar.gz\n", a},
		{"SHA256 (y.tar.gz) = " + b + "\n", b},
		{strings.ToUpper(b) + "\n", b},
		{a + "  x.tar.gz\n", ""},
	} {
		got, err := ChecksumFor(tc.text, "https://example.org/dl/y.tar.gz?x=1")
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("ChecksumFor(%q) = %q, %v; want %q", tc.text, got, err, tc.want)
		}
	}
}

// TestPlantedLink: a link at the path is refused at the check, and a link
// another user planted above the path is never followed by the
// placement: the file it leads to is untouched.
func TestPlantedLink(t *testing.T) {
	needFetcher(t)
	const body = "release\n"
	s := serve(t, map[string]string{"/a": body})
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep\n"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(victim, link)
	m := build(t, args(s.URL+"/a", link, sum(body)))
	if _, err := m.Check(moduletest.Probe(t, m)); err == nil || !strings.Contains(err.Error(), "is a symbolic link, not a regular file") {
		t.Fatalf("check error = %v", err)
	}

	if os.Getuid() != 0 {
		t.Skip("a link another user owns needs root to make")
	}
	elsewhere := filepath.Join(dir, "elsewhere")
	os.Mkdir(elsewhere, 0o755)
	planted := filepath.Join(dir, "app")
	os.Symlink(elsewhere, planted)
	if err := os.Lchown(planted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	m = build(t, args(s.URL+"/a", filepath.Join(planted, "a.tar.gz"), sum(body)))
	moduletest.Check(t, m)
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "is a symbolic link owned by uid 65534, not root: not followed") {
		t.Fatalf("apply error = %v", err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("the placement followed the planted link: %d entries in %s", len(entries), elsewhere)
	}
}
