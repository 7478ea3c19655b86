//go:build linux

package filestate

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module"
)

// runFragment runs a Probe fragment as the probe batch does.
func runFragment(t *testing.T, frag string) []byte {
	t.Helper()
	cmd := exec.Command("/bin/sh")
	cmd.Stdin = strings.NewReader("(\n" + frag + "\n)\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fragment: %v", err)
	}
	return out
}

func nativeAnswer(t *testing.T, m module.NativeProber, answer module.NativeAnswerer) module.NativeAnswer {
	t.Helper()
	_, q, ok := m.NativeProbe()
	if !ok {
		t.Fatal("no native probe")
	}
	raw, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	return answer([][]byte{raw})[0]
}

// The helper's native answers are the sh fragments' output, byte for
// byte, in every state a managed path can be in.
func TestNativeFileProbeMatchesTheFragment(t *testing.T) {
	dir := t.TempDir()
	digests := filepath.Join(t.TempDir(), "digests")
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	same := write("same", "wanted\n", 0o644)
	small := write("small", "on host\nline 2\n", 0o600)
	big := write("big", strings.Repeat("x", MaxDiffSize+1), 0o644)
	setuid := write("setuid", "s", 0o4755)
	long := write("long", strings.Repeat("0123456789", 40), 0o644) // base64 wraps
	empty := write("empty", "", 0o644)
	if err := os.Symlink(same, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(".skiff-small.0a1b2c.tmp", "partial", 0o600)
	write(".skiff-small..tmp", "partial", 0o600)
	write(".skiff-small.tmp", "not ours", 0o600)
	// A record that matches the file: both must report its digest.
	old := write("recorded", "recorded content", 0o644)
	var st syscall.Stat_t
	if err := syscall.Lstat(old, &st); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(digests, 0o700); err != nil {
		t.Fatal(err)
	}
	rec := New(Spec{Path: old, DigestDir: digests}).recordPath()
	if err := os.WriteFile(rec, []byte(module.StatKey(&st)+" "+sha("from the record")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, spec := range []Spec{
		{Path: same, Content: []byte("wanted\n"), Known: true},
		{Path: small, Content: []byte("wanted\n"), Known: true},
		{Path: small, Content: []byte("wanted\n"), Known: true, Sensitive: true},
		{Path: small, Content: []byte("wanted\n"), Known: false},
		{Path: small, Absent: true},
		{Path: big, Content: []byte("wanted\n"), Known: true},
		{Path: setuid, Content: []byte("t"), Known: true},
		{Path: long, Content: []byte("t"), Known: true},
		{Path: empty, Content: []byte("t"), Known: true},
		{Path: filepath.Join(dir, "link"), Content: []byte("t"), Known: true},
		{Path: filepath.Join(dir, "dangling"), Content: []byte("t"), Known: true},
		{Path: filepath.Join(dir, "sub"), Content: []byte("t"), Known: true},
		{Path: filepath.Join(dir, "fifo"), Content: []byte("t"), Known: true},
		{Path: filepath.Join(dir, "missing"), Content: []byte("t"), Known: true},
		{Path: filepath.Join(dir, "nodir", "missing"), Content: []byte("t"), Known: true},
		{Path: old, Content: []byte("t"), Known: true},
	} {
		spec.DigestDir = digests
		f := New(spec)
		name := filepath.Base(spec.Path)
		if spec.Absent {
			name += " (absent)"
		}
		if spec.Sensitive {
			name += " (sensitive)"
		}
		want := runFragment(t, f.Probe())
		got := nativeAnswer(t, f, AnswerFiles)
		if !got.OK {
			t.Errorf("%s: the helper declined", name)
			continue
		}
		if !bytes.Equal(got.Stdout, want) || got.ExitCode != 0 {
			t.Errorf("%s: native answer differs from the fragment:\n--- fragment\n%s\n--- native (exit %d)\n%s", name, want, got.ExitCode, got.Stdout)
		}
	}
	if out := runFragment(t, New(Spec{Path: old, DigestDir: digests}).Probe()); !bytes.Contains(out, []byte("sha256="+sha("from the record"))) {
		t.Errorf("the fragment did not use the matching record:\n%s", out)
	}
}

func TestNativeStatProbeMatchesTheFragment(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o2775); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "d"), 0o2775)
	if err := os.Symlink(filepath.Join(dir, "d"), filepath.Join(dir, "to-d")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("relative\ntarget", filepath.Join(dir, "odd")); err != nil {
		t.Fatal(err)
	}
	// dash's echo would take these backslashes for escapes.
	if err := os.Symlink(`back\c-slash\t`, filepath.Join(dir, "backslash")); err != nil {
		t.Fatal(err)
	}
	for _, q := range []StatQuery{
		{Path: filepath.Join(dir, "d"), Follow: true},
		{Path: filepath.Join(dir, "to-d"), Follow: true},
		{Path: filepath.Join(dir, "to-d")},
		{Path: filepath.Join(dir, "odd")},
		{Path: filepath.Join(dir, "backslash")},
		{Path: filepath.Join(dir, "none"), Follow: true},
	} {
		want := runFragment(t, StatScript(q.Path, q.Follow))
		raw, _ := json.Marshal(q)
		got := AnswerStats([][]byte{raw})[0]
		if !got.OK || !bytes.Equal(got.Stdout, want) {
			t.Errorf("%+v: native answer differs from the fragment (ok %v):\n--- fragment\n%s\n--- native\n%s", q, got.OK, want, got.Stdout)
		}
	}
}

// An owner that /etc/passwd does not name may have a name elsewhere
// (LDAP, systemd's dynamic users): the helper declines, and the fragment
// runs.
func TestNativeProbeDeclinesAnUnnamedOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 54321, 54321); err != nil {
		t.Fatal(err)
	}
	if got := nativeAnswer(t, New(Spec{Path: p, Known: true, Content: []byte("x")}), AnswerFiles); got.OK {
		t.Errorf("the helper answered for uid 54321:\n%s", got.Stdout)
	}
}
