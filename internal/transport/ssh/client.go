package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	gossh "golang.org/x/crypto/ssh"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// Transport is one SSH connection to one host, shared by all the calls of a
// run: each Run, and the one SFTP client behind WriteFile and Stat, is a
// session multiplexed on it, at most Config.MaxSessions at a time.
//
// If the connection is lost, the next call reconnects, once in the
// Transport's life. A call that failed before anything ran remotely is
// retried on the new connection; a script that was running is not (it may
// have done part of its work): its caller gets the UnreachableError.
type Transport struct {
	cfg    Config
	sem    chan struct{} // a token per open session
	closed atomic.Bool

	mu       sync.Mutex // guards cur and redialed; held during a reconnect
	cur      *link
	redialed bool
}

var _ transport.Transport = (*Transport)(nil)

// link returns the connection to use, reconnecting if the current one was
// lost and the one reconnect is still available.
func (t *Transport) link(ctx context.Context) (*link, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return nil, t.errClosed()
	}
	if !t.cur.isDead() {
		return t.cur, nil
	}
	cause := t.cur.causeErr()
	if t.redialed {
		return nil, &transport.UnreachableError{Host: t.cfg.Host, Err: cause}
	}
	t.redialed = true
	t.cur.close(cause) // reap its goroutines; it is dead already
	l, err := dialLink(ctx, t.cfg)
	if err != nil {
		var u *transport.UnreachableError
		if errors.As(err, &u) {
			return nil, &transport.UnreachableError{Host: t.cfg.Host, Err: fmt.Errorf("%w; reconnecting: %w", cause, u.Err)}
		}
		return nil, fmt.Errorf("%s: reconnecting after %v: %w", t.cfg.Host, cause, err)
	}
	t.cur = l
	return l, nil
}

// lost is the error for an operation whose connection ended with cause.
func (t *Transport) lost(cause error) error {
	if t.closed.Load() {
		return t.errClosed()
	}
	return &transport.UnreachableError{Host: t.cfg.Host, Err: cause}
}

func (t *Transport) errClosed() error {
	return fmt.Errorf("%s: ssh transport closed: %w", t.cfg.Host, net.ErrClosed)
}

// acquire takes a session slot.
func (t *Transport) acquire(ctx context.Context, l *link) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", t.cfg.Host, err)
	}
	select {
	case t.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", t.cfg.Host, ctx.Err())
	case <-l.dead:
		return t.lost(l.causeErr())
	}
}

func (t *Transport) release() { <-t.sem }

// newSession opens a session; a failure that is not the server's refusal
// means the connection is broken, and it is closed as lost.
func (t *Transport) newSession(l *link) (*gossh.Session, error) {
	sess, err := l.client.NewSession()
	if err == nil {
		return sess, nil
	}
	var oce *gossh.OpenChannelError
	if errors.As(err, &oce) {
		hint := ""
		if oce.Reason == gossh.Prohibited {
			hint = fmt.Sprintf(" (is sshd's MaxSessions below %d? lower max_sessions)", t.cfg.MaxSessions)
		}
		return nil, fmt.Errorf("%s: open ssh session: %w%s", t.cfg.Host, err, hint)
	}
	l.lose(fmt.Errorf("connection lost: open session: %w", err))
	return nil, t.lost(l.causeErr())
}

// Run runs script with /bin/sh on the host, as root through `sudo -n` when
// become is set and the user is not root. The remote command is exactly
// "sh -s" (or "sudo -n sh -s"); the script travels on stdin, so it never
// shows in the remote process list. With a SudoPassword, sudo reads it
// from stdin first (see sudoWithPassword), and a refused password gives a
// *SudoRejectedError.
//
// The script is sent inside a brace group with stdin from /dev/null: sh
// parses all of it before running any of it, so a command that reads stdin
// (apt, mysql…) cannot swallow the rest of the script, and a script cut
// short by a lost connection is a syntax error rather than half run.
//
// A non-zero exit is not an error; a shell killed by a signal exits
// 128+signal. When ctx ends, the remote shell is sent SIGKILL, the session
// closed, and ctx's error returned.
func (t *Transport) Run(ctx context.Context, script string) (transport.Result, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return transport.Result{}, fmt.Errorf("%s: run: %w", t.cfg.Host, err)
		}
		l, err := t.link(ctx)
		if err != nil {
			return transport.Result{}, err
		}
		res, started, err := t.run(ctx, l, script)
		if err != nil && !started && attempt == 0 && transport.IsUnreachable(err) {
			continue // the script never reached the host: safe to retry
		}
		return res, err
	}
}

// run runs script in one session of l; started reports whether the script
// may have reached the host.
func (t *Transport) run(ctx context.Context, l *link, script string) (res transport.Result, started bool, err error) {
	if err := t.acquire(ctx, l); err != nil {
		return res, false, err
	}
	sess, err := t.newSession(l)
	if err != nil {
		t.release()
		return res, false, err
	}
	var stdout, stderr bytes.Buffer
	sess.Stdin = strings.NewReader(wrapScript(script))
	if t.cfg.passwordMode() {
		sess.Stdin = io.MultiReader(t.cfg.sudoPreamble(), sess.Stdin)
	}
	sess.Stdout = &stdout
	sess.Stderr = &stderr
	if err := sess.Start(t.shellCommand()); err != nil {
		sess.Close()
		t.release()
		// The shell's stdin was never written: nothing ran.
		if cause := l.lostWithin(connLossGrace); cause != nil {
			return res, false, t.lost(cause)
		}
		return res, false, fmt.Errorf("%s: start remote shell: %w", t.cfg.Host, err)
	}

	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case <-ctx.Done():
		// Killing may block on a stalled connection: do it aside, and
		// keep the slot until the session is gone.
		go func() {
			_ = sess.Signal(gossh.SIGKILL)
			_ = sess.Close()
			t.release()
		}()
		return res, true, fmt.Errorf("%s: run: %w", t.cfg.Host, ctx.Err())
	case err = <-done:
	}
	sess.Close()
	t.release()

	res = transport.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *gossh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitStatus()
	default:
		// No exit status (ExitMissingError) or a broken stream: either
		// the connection died, or the server ended the session without
		// saying how the shell ended, which is a failure of this run.
		if cause := l.lostWithin(connLossGrace); cause != nil {
			return res, true, t.lost(cause)
		}
		res.ExitCode = -1
		return res, true, fmt.Errorf("%s: remote shell: %w", t.cfg.Host, err)
	}
	if t.cfg.passwordMode() {
		rest, ok := afterBecome(res.Stderr)
		if !ok {
			return transport.Result{ExitCode: res.ExitCode}, true, t.becomeFailure(res.Stderr, res.ExitCode)
		}
		res.Stderr = rest
		return res, true, nil
	}
	if t.cfg.become() && res.ExitCode != 0 && sudoWantsPassword(res.Stderr) {
		return res, true, &SudoPasswordError{Host: t.cfg.Host, User: t.cfg.User}
	}
	return res, true, nil
}

func (t *Transport) shellCommand() string {
	if t.cfg.passwordMode() {
		return sudoWithPassword("exec sh -s")
	}
	if t.cfg.become() {
		return "sudo -n sh -s"
	}
	return "sh -s"
}

// wrapScript: see Run. The leading ":" keeps an empty or comment-only
// script a valid brace group.
func wrapScript(script string) string {
	return "{\n:\n" + script + "\n} </dev/null\n"
}

// Close ends the connection (and the bastion's) and waits for its
// goroutines. Calls in flight fail; later calls return an error wrapping
// net.ErrClosed. Close is idempotent and always returns nil.
func (t *Transport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.mu.Lock() // waits for a reconnect in progress
	l := t.cur
	t.mu.Unlock()
	l.close(fmt.Errorf("ssh transport closed: %w", net.ErrClosed))
	return nil
}

// SudoPasswordError says sudo wanted a password that skiff was not given:
// without Config.SudoPassword, skiff runs `sudo -n` and never types one.
type SudoPasswordError struct {
	Host string
	User string
}

func (e *SudoPasswordError) Error() string {
	return fmt.Sprintf("sudo requires a password on %s; configure NOPASSWD for %s (e.g. \"%s ALL=(ALL) NOPASSWD: ALL\" in /etc/sudoers.d/skiff), connect as root, or give the password with --ask-become-pass",
		e.Host, e.User, e.User)
}

// sudoWantsPassword recognises what `sudo -n` prints when it would prompt.
func sudoWantsPassword(stderr []byte) bool {
	return bytes.Contains(stderr, []byte("sudo: a password is required")) ||
		bytes.Contains(stderr, []byte("sudo: a terminal is required")) ||
		bytes.Contains(stderr, []byte("sudo: no tty present"))
}
