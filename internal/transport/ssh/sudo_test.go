package ssh

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testSudoPassword = "correct horse 'battery' $staple"

// passwordSudoS stands in for `sudo -S` with an empty prompt: like sudo's tgetpass it reads
// the password one line at a time from stdin (three tries), leaving the
// rest of stdin to the command it runs.
const passwordSudoS = `#!/bin/sh
[ "$1" = -S ] || { echo "fake sudo: want -S" >&2; exit 2; }
shift
[ "$1" = -p ] && [ "$2" = "" ] || { echo "fake sudo: want -p ''" >&2; exit 2; }
shift 2
tries=0
while [ "$tries" -lt 3 ]; do
	IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
	[ "$pw" = "$FAKE_SUDO_PASSWORD" ] && exec "$@"
	tries=$((tries+1))
	[ "$tries" -lt 3 ] && echo "Sorry, try again." >&2
done
echo "sudo: $tries incorrect password attempts" >&2
exit 1
`

// cachedSudoS is `sudo -S` that does not ask (NOPASSWD, cached credentials).
const cachedSudoS = `#!/bin/sh
[ "$1" = -S ] || { echo "fake sudo: want -S" >&2; exit 2; }
echo "sudo: unable to resolve host web1" >&2
shift 3
exec "$@"
`

func passwordFixture(t *testing.T, sudo, password string) (*fixture, Config) {
	t.Helper()
	f, cfg := becomeFixture(t, strings.ReplaceAll(sudo, `"$FAKE_SUDO_PASSWORD"`, shellQuote(testSudoPassword)))
	cfg.SudoPassword = password
	return f, cfg
}

func TestBecomeWithPassword(t *testing.T) {
	for _, tc := range []struct{ name, sudo string }{
		{"sudo asks", passwordSudoS},
		{"sudo does not ask", cachedSudoS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, cfg := passwordFixture(t, tc.sudo, testSudoPassword)
			tr := dial(t, cfg)
			// cat proves the script's stdin is not the rest of the stream.
			res, err := tr.Run(t.Context(), "cat; echo as root; echo warn >&2")
			if err != nil || string(res.Stdout) != "as root\n" || string(res.Stderr) != "warn\n" || res.ExitCode != 0 {
				t.Fatalf("Run = %q %q %d, %v", res.Stdout, res.Stderr, res.ExitCode, err)
			}
			res, err = tr.Run(t.Context(), "exit 4")
			if err != nil || res.ExitCode != 4 {
				t.Fatalf("Run(exit 4) = %d, %v", res.ExitCode, err)
			}
			path := filepath.Join(t.TempDir(), "f")
			if err := tr.WriteFile(t.Context(), path, strings.NewReader("hi"), 0o600); err != nil {
				t.Fatal(err)
			}
			if fi, err := tr.Stat(t.Context(), path); err != nil || fi.Size != 2 {
				t.Errorf("Stat = %+v, %v", fi, err)
			}
			execs := f.srv.execLog()
			if len(execs) != 3 {
				t.Fatalf("exec payloads = %q", execs)
			}
			for _, e := range execs {
				if !strings.HasPrefix(e, "sudo -S -p '' sh -c ") || strings.Contains(e, "horse") {
					t.Errorf("exec payload %q", e)
				}
			}
		})
	}
}

func TestSudoPasswordRejected(t *testing.T) {
	const wrong = "not-the-password-42"
	_, cfg := passwordFixture(t, passwordSudoS, wrong)
	tr := dial(t, cfg)
	var errs []error

	res, err := tr.Run(t.Context(), "echo ran")
	var re *SudoRejectedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "sudo rejected the password on web1") {
		t.Errorf("Run = %v, want SudoRejectedError", err)
	}
	if len(res.Stdout) != 0 {
		t.Errorf("the script ran: %q", res.Stdout)
	}
	errs = append(errs, err)

	start := time.Now()
	err = tr.WriteFile(t.Context(), filepath.Join(t.TempDir(), "f"), strings.NewReader("x"), 0o644)
	if !errors.As(err, &re) {
		t.Errorf("WriteFile = %v, want SudoRejectedError", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("WriteFile took %s: sudo's retries must not wait for input", d)
	}
	errs = append(errs, err)
	_, err = tr.Stat(t.Context(), "/")
	errs = append(errs, err)

	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), testSudoPassword) {
			t.Errorf("error shows a password: %v", err)
		}
	}
}

// A sudo that fails for another reason: its message, never the password.
func TestSudoFailsOtherwise(t *testing.T) {
	const notSudoer = `#!/bin/sh
echo "deploy is not in the sudoers file." >&2
exit 1
`
	_, cfg := passwordFixture(t, notSudoer, testSudoPassword)
	tr := dial(t, cfg)
	_, err := tr.Run(t.Context(), "echo ran")
	if err == nil || !strings.Contains(err.Error(), "not in the sudoers file") || strings.Contains(err.Error(), "horse") {
		t.Errorf("Run = %v", err)
	}
	err = tr.WriteFile(t.Context(), filepath.Join(t.TempDir(), "f"), strings.NewReader("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), "not in the sudoers file") || strings.Contains(err.Error(), "horse") {
		t.Errorf("WriteFile = %v", err)
	}
}

// A sudo that exits without reading the password: whether skiff's write of
// the password ends before the session does is a race, and either way the
// answer is sudo's message. A password larger than the SSH channel window
// (2 MiB) makes the write outlast the session every time.
func TestSudoExitsBeforeReadingPassword(t *testing.T) {
	const notSudoer = `#!/bin/sh
echo "deploy is not in the sudoers file." >&2
exit 1
`
	_, cfg := passwordFixture(t, notSudoer, "")
	cfg.SudoPassword = strings.Repeat("p", 4<<20)
	tr := dial(t, cfg)
	_, err := tr.Run(t.Context(), "echo ran")
	if err == nil || !strings.Contains(err.Error(), "sudo failed (exit 1): deploy is not in the sudoers file.") {
		t.Errorf("Run = %v", err)
	}
	err = tr.WriteFile(t.Context(), filepath.Join(t.TempDir(), "f"), strings.NewReader("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), "sudo failed (exit 1): deploy is not in the sudoers file.") {
		t.Errorf("WriteFile = %v", err)
	}
}

func TestSudoPasswordWithoutBecomeIsUnused(t *testing.T) {
	f, cfg := passwordFixture(t, passwordSudoS, testSudoPassword)
	cfg.Become = false
	tr := dial(t, cfg)
	if res, err := tr.Run(t.Context(), "echo plain"); err != nil || string(res.Stdout) != "plain\n" {
		t.Fatalf("Run = %q, %v", res.Stdout, err)
	}
	if got := f.srv.execLog(); len(got) != 1 || got[0] != "sh -s" {
		t.Errorf("exec payloads = %q", got)
	}
}

func TestSudoPasswordLineBreakRefused(t *testing.T) {
	cfg := Config{Address: "10.0.0.1", User: "deploy", KnownHosts: "/k", SudoPassword: "se\ncret"}
	_, err := cfg.withDefaults()
	if err == nil || strings.Contains(err.Error(), "cret") {
		t.Errorf("withDefaults = %v", err)
	}
}

func TestAfterBecome(t *testing.T) {
	for _, tc := range []struct {
		in, rest string
		ok       bool
	}{
		{becameRoot + "\nwarn\n", "warn\n", true},
		{"sudo: unable to resolve host x\n" + becameRoot + "\n", "", true},
		{"Sorry, try again.\n", "Sorry, try again.\n", false},
		{"x" + becameRoot + "\n", "x" + becameRoot + "\n", false},
	} {
		rest, ok := afterBecome([]byte(tc.in))
		if string(rest) != tc.rest || ok != tc.ok {
			t.Errorf("afterBecome(%q) = %q, %v", tc.in, rest, ok)
		}
	}
}
