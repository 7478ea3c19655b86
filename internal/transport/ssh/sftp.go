package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// sftpSession is the SFTP client of a link and the session it runs in. It
// holds one session slot for as long as it is open.
type sftpSession struct {
	client  *sftp.Client
	sess    *gossh.Session
	broken  chan struct{} // closed once the SFTP client has ended
	release func()        // frees the session slot
	once    sync.Once
}

func (s *sftpSession) isBroken() bool {
	select {
	case <-s.broken:
		return true
	default:
		return false
	}
}

func (s *sftpSession) close() {
	s.once.Do(func() {
		s.sess.Close()
		s.client.Close()
		s.release()
	})
}

// sftpFor returns l's SFTP client, opening it on first use, or again after
// the SFTP server ended on a live connection.
func (t *Transport) sftpFor(ctx context.Context, l *link) (*sftp.Client, error) {
	l.sftpMu.Lock()
	defer l.sftpMu.Unlock()
	if s := l.sftp; s != nil {
		if !s.isBroken() {
			return s.client, nil
		}
		s.close()
		l.sftp = nil
	}
	if l.closing {
		return nil, t.lost(l.causeErr())
	}
	if err := t.acquire(ctx, l); err != nil {
		return nil, err
	}
	s, err := t.openSFTP(ctx, l)
	if err != nil {
		t.release()
		return nil, err
	}
	s.release = t.release
	l.sftp = s
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_ = s.client.Wait()
		close(s.broken)
	}()
	return s.client, nil
}

// openSFTP starts an SFTP server in a new session of l: the "sftp"
// subsystem, or, when become is set, sftp-server itself run through
// `sudo -n` (or `sudo -S` with the password) so that files are written as root.
func (t *Transport) openSFTP(ctx context.Context, l *link) (*sftpSession, error) {
	sess, err := t.newSession(l)
	if err != nil {
		return nil, err
	}
	stderr := new(syncBuffer)
	sess.Stderr = stderr
	w, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("%s: sftp: %w", t.cfg.Host, err)
	}
	r, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("%s: sftp: %w", t.cfg.Host, err)
	}
	var preambleErr error
	switch {
	case t.cfg.passwordMode():
		if err = sess.Start(sudoSFTPCommand(t.cfg.SFTPServerPaths, true)); err == nil {
			// sudo reads the password line before sftp-server starts. A
			// sudo that exits without reading it (not a sudoer, say) may
			// end the session before the write does: like an SFTP
			// handshake that fails, that is for the session's end to
			// explain (below), not a failure to start.
			_, preambleErr = io.Copy(w, t.cfg.sudoPreamble())
		}
	case t.cfg.become():
		err = sess.Start(sudoSFTPCommand(t.cfg.SFTPServerPaths, false))
	default:
		err = sess.RequestSubsystem("sftp")
	}
	if err != nil {
		sess.Close()
		if cause := l.lostWithin(connLossGrace); cause != nil {
			return nil, t.lost(cause)
		}
		return nil, fmt.Errorf("%s: start sftp: %w", t.cfg.Host, err)
	}

	// NewClientPipe waits for the server's version packet, which a stuck
	// server never sends: wait aside, bounded by ctx and ConnectTimeout.
	type opened struct {
		c   *sftp.Client
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		if preambleErr != nil {
			ch <- opened{err: preambleErr}
			return
		}
		// Concurrent writes: a failed write removes the file anyway, so
		// the holes they may leave do not matter.
		c, err := sftp.NewClientPipe(r, w, sftp.UseConcurrentWrites(true))
		ch <- opened{c, err}
	}()
	abandon := func() {
		sess.Close()
		go func() {
			if o := <-ch; o.c != nil {
				o.c.Close()
			}
		}()
	}
	timer := time.NewTimer(t.cfg.ConnectTimeout)
	defer timer.Stop()
	var o opened
	select {
	case o = <-ch:
	case <-ctx.Done():
		abandon()
		return nil, fmt.Errorf("%s: start sftp: %w", t.cfg.Host, ctx.Err())
	case <-timer.C:
		abandon()
		return nil, fmt.Errorf("%s: start sftp: no answer from the sftp server within %s", t.cfg.Host, t.cfg.ConnectTimeout)
	}
	if o.err == nil {
		return &sftpSession{client: o.c, sess: sess, broken: make(chan struct{})}, nil
	}

	// The server side ended before speaking SFTP: why? An exit status
	// proves the connection alive; without one, it may have died.
	var exitErr *gossh.ExitError
	var waitErr error
	exited := false
	if t.cfg.become() {
		done := make(chan error, 1)
		go func() { done <- sess.Wait() }()
		select {
		case waitErr = <-done:
			exited = waitErr == nil || errors.As(waitErr, &exitErr)
		case <-time.After(connLossGrace):
		}
	}
	sess.Close()
	if !exited {
		if cause := l.lostWithin(connLossGrace); cause != nil {
			return nil, t.lost(cause)
		}
	}
	msg := stderr.Bytes()
	if t.cfg.passwordMode() {
		rest, ok := afterBecome(msg)
		if !ok && (exited || sudoRejected(msg)) {
			code := 0
			if exitErr != nil {
				code = exitErr.ExitStatus()
			}
			return nil, t.becomeFailure(msg, code)
		}
		msg = rest
	}
	switch {
	case t.cfg.become() && !t.cfg.passwordMode() && sudoWantsPassword(msg):
		return nil, &SudoPasswordError{Host: t.cfg.Host, User: t.cfg.User}
	case exitErr != nil && exitErr.ExitStatus() == 127 && bytes.Contains(msg, []byte(noSFTPServer)):
		return nil, fmt.Errorf("%s: no sftp-server found (looked for %s)", t.cfg.Host, strings.Join(t.cfg.SFTPServerPaths, ", "))
	case len(msg) > 0:
		return nil, fmt.Errorf("%s: start sftp: %w: %s", t.cfg.Host, o.err, bytes.TrimSpace(msg))
	}
	return nil, fmt.Errorf("%s: start sftp: %w", t.cfg.Host, o.err)
}

const noSFTPServer = "skiff: no sftp-server found"

// sudoSFTPCommand runs the first executable of paths as root, reading the
// sudo password from stdin first when withPassword is set. sftp-server
// speaks on stdin/stdout, like the subsystem does.
func sudoSFTPCommand(paths []string, withPassword bool) string {
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = shellQuote(p)
	}
	script := fmt.Sprintf(`for p in %s; do [ -x "$p" ] && exec "$p"; done; echo '%s' >&2; exit 127`,
		strings.Join(quoted, " "), noSFTPServer)
	if withPassword {
		return sudoWithPassword(script)
	}
	return "sudo -n sh -c " + shellQuote(script)
}

// shellQuote quotes s for POSIX sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// WriteFile writes content to path with mode perm over SFTP, as root when
// become is set, creating or truncating it. The mode is set before any
// content lands, so that a secret never sits in a file with a wider mode
// (umask only narrows what is created, chmod gives exactly perm). On error
// the partial file is removed (best effort).
func (t *Transport) WriteFile(ctx context.Context, path string, content io.Reader, perm os.FileMode) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: write %s: %w", t.cfg.Host, path, err)
		}
		l, err := t.link(ctx)
		if err != nil {
			return err
		}
		c, err := t.sftpFor(ctx, l)
		if err == nil {
			var f *sftp.File
			f, err = c.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
			if err == nil {
				return t.write(ctx, l, c, f, path, content, perm)
			}
			err = t.sftpFailure(l, "open "+path, err)
		}
		if attempt == 0 && transport.IsUnreachable(err) {
			continue // no content consumed yet: safe to retry
		}
		return err
	}
}

func (t *Transport) write(ctx context.Context, l *link, c *sftp.Client, f *sftp.File, path string, content io.Reader, perm os.FileMode) error {
	err := f.Chmod(perm)
	if err == nil {
		_, err = f.ReadFromWithConcurrency(ctxReader{ctx, content}, 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		return nil
	}
	_ = c.Remove(path)
	if ctx.Err() != nil {
		return fmt.Errorf("%s: write %s: %w", t.cfg.Host, path, ctx.Err())
	}
	return t.sftpFailure(l, "write "+path, err)
}

// Stat stats path (following symlinks) over SFTP; a missing path gives an
// error wrapping os.ErrNotExist.
func (t *Transport) Stat(ctx context.Context, path string) (transport.FileInfo, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return transport.FileInfo{}, fmt.Errorf("%s: stat %s: %w", t.cfg.Host, path, err)
		}
		l, err := t.link(ctx)
		if err != nil {
			return transport.FileInfo{}, err
		}
		c, err := t.sftpFor(ctx, l)
		if err == nil {
			var fi os.FileInfo
			fi, err = statContext(ctx, c, path)
			switch {
			case err == nil:
				return transport.FileInfo{Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}, nil
			case ctx.Err() != nil:
				return transport.FileInfo{}, fmt.Errorf("%s: stat %s: %w", t.cfg.Host, path, ctx.Err())
			case errors.Is(err, os.ErrNotExist):
				return transport.FileInfo{}, fmt.Errorf("%s: stat %s: %w", t.cfg.Host, path, err)
			}
			err = t.sftpFailure(l, "stat "+path, err)
		}
		if attempt == 0 && transport.IsUnreachable(err) {
			continue
		}
		return transport.FileInfo{}, err
	}
}

// statContext is c.Stat, abandoned when ctx ends (pkg/sftp's Stat takes no
// context; the abandoned call ends with the connection at the latest).
func statContext(ctx context.Context, c *sftp.Client, path string) (os.FileInfo, error) {
	type stat struct {
		fi  os.FileInfo
		err error
	}
	ch := make(chan stat, 1)
	go func() {
		fi, err := c.Stat(path)
		ch <- stat{fi, err}
	}()
	select {
	case s := <-ch:
		return s.fi, s.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sftpFailure names the host in an SFTP error, and turns one caused by the
// end of the connection into an UnreachableError.
func (t *Transport) sftpFailure(l *link, op string, err error) error {
	if errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		if cause := l.lostWithin(connLossGrace); cause != nil {
			return t.lost(cause)
		}
	}
	return fmt.Errorf("%s: %s: %w", t.cfg.Host, op, err)
}

// ctxReader stops a transfer when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncBuffer is a bytes.Buffer written by x/crypto's copy goroutine and
// read by ours.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
