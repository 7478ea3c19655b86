package moduletest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// Reversal returns m's backup, undo and after fragments for dir (which it
// creates 0700, as the engine does), failing the test when m is not
// module.Reversible.
func Reversal(t testing.TB, m module.Module, dir string) (backup, undo, after string) {
	t.Helper()
	r, ok := m.(module.Reversible)
	if !ok {
		t.Fatalf("%T is not module.Reversible", m)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return r.Reversal(dir)
}

// RunFragment runs a backup, undo or after fragment the way the engine
// does (in a subshell, stdin /dev/null, umask 077) and returns the result.
// "" runs nothing and succeeds.
func RunFragment(t testing.TB, frag string) transport.Result {
	t.Helper()
	if frag == "" {
		return transport.Result{}
	}
	res, err := (&transporttest.Local{}).Run(context.Background(), "umask 077\n(\n"+frag+"\n) </dev/null\n")
	if err != nil {
		t.Fatalf("run fragment: %v", err)
	}
	return res
}

// MustRunFragment is RunFragment that fails the test on a non-zero exit.
func MustRunFragment(t testing.TB, what, frag string) {
	t.Helper()
	if res := RunFragment(t, frag); res.ExitCode != 0 {
		t.Fatalf("%s: exit %d\nstderr: %s\nstdout: %s\nfragment:\n%s", what, res.ExitCode, res.Stderr, res.Stdout, frag)
	}
}

// NoSecretIn fails the test if secretValue appears in any of the fragments.
func NoSecretIn(t testing.TB, secretValue string, frags ...string) {
	t.Helper()
	for _, f := range frags {
		if strings.Contains(f, secretValue) {
			t.Fatalf("secret value appears in fragment:\n%s", f)
		}
	}
}

// Fakes is a folder of fake commands that FakeCommands put first on PATH.
type Fakes struct {
	Dir string // also $FAKES in the fakes: bodies may keep state in it
}

// guarded are system-changing commands that are always faked: a test that
// forgets one gets a failing stub ("not faked"), never the real command
// (tests may run as root).
var guarded = []string{
	"systemctl", "apt-get", "apt-cache", "apt-mark", "dpkg", "dpkg-query",
	"useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel",
	"gpasswd", "chpasswd", "getent", "ufw",
}

// FakeCommands puts fake commands first on PATH for the rest of the test
// (so the test must not be parallel). Each fake named after a key of cmds
// appends "name arg…" to a log (see Calls) and then runs its sh body, with
// $FAKES set to the fakes' folder. The commands of guarded that cmds lacks
// are stubs that log their call and exit 127.
func FakeCommands(t testing.TB, cmds map[string]string) *Fakes {
	t.Helper()
	f := &Fakes{Dir: t.TempDir()}
	all := map[string]string{}
	for _, n := range guarded {
		all[n] = "echo \"" + n + ": not faked in this test\" >&2; exit 127"
	}
	for n, body := range cmds {
		all[n] = body
	}
	for n, body := range all {
		script := "#!/bin/sh\nprintf '%s\\n' \"" + n + " $*\" >> \"$FAKES/calls.log\"\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(f.Dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FAKES", f.Dir)
	t.Setenv("PATH", f.Dir+":/usr/sbin:/usr/bin:/sbin:/bin")
	return f
}

// Calls returns the logged calls ("name arg…"), oldest first, and clears
// the log. Calls whose text starts with one of skip are left out.
func (f *Fakes) Calls(t testing.TB, skip ...string) []string {
	t.Helper()
	p := filepath.Join(f.Dir, "calls.log")
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l == "" || slices.ContainsFunc(skip, func(s string) bool { return strings.HasPrefix(l, s) }) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// Write writes a state file into the fakes' folder.
func (f *Fakes) Write(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.Dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// PathState describes the local path p for before/after comparisons: one
// line per entry (p itself, then, for a directory, everything under it in
// lexical order) with its relative name, type, permission bits, owner ids,
// and its content or link target; "absent" when p does not exist. Times
// are left out. A final symlink is not followed.
func PathState(t testing.TB, p string) string {
	t.Helper()
	if _, err := os.Lstat(p); os.IsNotExist(err) {
		return "absent\n"
	}
	var b strings.Builder
	err := filepath.Walk(p, func(q string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, q)
		fmt.Fprintf(&b, "%s %s %04o", rel, fi.Mode().Type(), unixMode(fi.Mode()))
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(&b, " %d:%d", st.Uid, st.Gid)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(q)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " -> %q", target)
		case fi.Mode().IsRegular():
			content, err := os.ReadFile(q)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %q", content)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatalf("state of %s: %v", p, err)
	}
	return b.String()
}

// unixMode is m's permission bits with setuid, setgid and sticky as in chmod.
func unixMode(m os.FileMode) uint32 {
	u := uint32(m.Perm())
	for bit, v := range map[os.FileMode]uint32{os.ModeSetuid: 0o4000, os.ModeSetgid: 0o2000, os.ModeSticky: 0o1000} {
		if m&bit != 0 {
			u |= v
		}
	}
	return u
}
