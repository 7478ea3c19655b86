package ssh

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// With Config.SudoPassword, the remote command is `sudo -S -p "" sh -c W`
// and stdin starts with the preamble: the password line, then two sentinel
// lines, then the script (or the SFTP stream). sudo reads the password line
// (and, if it is wrong, one line per retry: the sentinels, so that sudo's
// default three tries end without eating anything else). W, running as
// root, reads up to the second sentinel: when sudo did not ask (NOPASSWD,
// cached credentials), the password line is read and dropped there, never
// run as a command. W then writes becameRoot on stderr, so that skiff
// knows the shell started as root, and what sudo printed before it
// (warnings, the lecture) is dropped.
const (
	sudoSentinel = "skiff-sudo-password-end"
	becameRoot   = "skiff-became-root"
)

// passwordMode reports whether sudo is fed Config.SudoPassword.
func (c Config) passwordMode() bool { return c.become() && c.SudoPassword != "" }

// sudoPreamble is what stdin starts with in password mode.
func (c Config) sudoPreamble() io.Reader {
	return strings.NewReader(c.SudoPassword + "\n" + sudoSentinel + "\n" + sudoSentinel + "\n")
}

// sudoWithPassword runs then (a sh command line) as root, reading the
// password from stdin.
func sudoWithPassword(then string) string {
	w := `n=0; while [ "$n" -lt 2 ] && IFS= read -r l; do [ "$l" = ` + sudoSentinel + ` ] && n=$((n+1)); done; ` +
		`[ "$n" = 2 ] || { echo 'skiff: sudo password preamble not found' >&2; exit 125; }; ` +
		`echo ` + becameRoot + ` >&2; ` + then
	return "sudo -S -p '' sh -c " + shellQuote(w)
}

// afterBecome splits stderr at the becameRoot line: ok is false when the
// shell never started as root, and rest is then all of stderr.
func afterBecome(stderr []byte) (rest []byte, ok bool) {
	marker := []byte(becameRoot + "\n")
	if bytes.HasPrefix(stderr, marker) {
		return stderr[len(marker):], true
	}
	if i := bytes.Index(stderr, []byte("\n"+becameRoot+"\n")); i >= 0 {
		return stderr[i+1+len(marker):], true
	}
	return stderr, false
}

// becomeFailure is the error for a sudo that did not start the shell.
func (t *Transport) becomeFailure(stderr []byte, exit int) error {
	if sudoRejected(stderr) {
		return &SudoRejectedError{Host: t.cfg.Host}
	}
	msg := strings.TrimSpace(string(stderr))
	if msg == "" {
		msg = "no message"
	}
	return fmt.Errorf("%s: sudo failed (exit %d): %s", t.cfg.Host, exit, msg)
}

// sudoRejected recognises what sudo prints after a wrong password.
func sudoRejected(stderr []byte) bool {
	return bytes.Contains(stderr, []byte("incorrect password attempt")) ||
		bytes.Contains(stderr, []byte("Sorry, try again.")) ||
		bytes.Contains(stderr, []byte("no password was provided"))
}

// SudoRejectedError says sudo refused Config.SudoPassword. It never holds
// the password.
type SudoRejectedError struct {
	Host string
}

func (e *SudoRejectedError) Error() string {
	return fmt.Sprintf("sudo rejected the password on %s (nothing ran as root)", e.Host)
}
