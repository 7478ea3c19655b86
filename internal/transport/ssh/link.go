package ssh

import (
	"fmt"
	"io"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// connLossGrace is how long to wait, after a session failed in a way that
// may come from a lost connection, for the connection to be seen as ended.
// x/crypto tears down the channels of a dead connection a moment before
// Wait reports it; a live connection costs this delay only in the rare case
// of a session ending without an exit status.
const connLossGrace = 500 * time.Millisecond

// link is one live SSH connection to the host (and the bastion connection
// carrying it, if any), with what hangs off it: the keepalive loop and the
// lazily opened SFTP client. A link never comes back once lost.
type link struct {
	client *gossh.Client
	jump   *gossh.Client // nil without bastion

	dead     chan struct{} // closed once the connection has ended
	stop     chan struct{} // closed by close, stops keepalive
	stopOnce sync.Once
	wg       sync.WaitGroup // watch, keepalive, sftp watchers

	mu    sync.Mutex
	cause error // why the connection ended; set before dead is closed

	sftpMu  sync.Mutex
	sftp    *sftpSession // nil until first used, or after it broke
	closing bool         // set by close: no new SFTP client (and no wg.Add)
}

func newLink(cfg Config, client, jump *gossh.Client) *link {
	l := &link{
		client: client,
		jump:   jump,
		dead:   make(chan struct{}),
		stop:   make(chan struct{}),
	}
	l.wg.Add(1)
	go l.watch()
	if cfg.KeepAlive > 0 {
		l.wg.Add(1)
		go l.keepAlive(cfg.KeepAlive)
	}
	return l
}

// watch waits for the connection to end, for whatever reason, and marks the
// link dead.
func (l *link) watch() {
	defer l.wg.Done()
	err := l.client.Wait()
	if err == nil {
		err = io.EOF
	}
	l.lose(fmt.Errorf("connection lost: %w", err))
	close(l.dead)
	if l.jump != nil {
		l.jump.Close()
	}
}

// lose records why the link ends (the first reason wins) and closes the
// connection, which fails every session on it.
func (l *link) lose(cause error) {
	l.mu.Lock()
	if l.cause == nil {
		l.cause = cause
	}
	l.mu.Unlock()
	l.client.Close()
}

func (l *link) causeErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cause
}

func (l *link) isDead() bool {
	select {
	case <-l.dead:
		return true
	default:
		return false
	}
}

// lostWithin returns why the connection ended if it has ended, or ends
// within d; nil if it is still alive.
func (l *link) lostWithin(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.dead:
		return l.causeErr()
	case <-t.C:
		return nil
	}
}

// close ends the link and waits for its goroutines.
// The connection goes first: that unblocks every reader, the SFTP client's
// included, so that closing the SFTP client cannot hang on a silent server.
func (l *link) close(cause error) {
	l.stopOnce.Do(func() { close(l.stop) })
	l.lose(cause)
	l.sftpMu.Lock()
	l.closing = true
	if l.sftp != nil {
		l.sftp.close()
		l.sftp = nil
	}
	l.sftpMu.Unlock()
	l.wg.Wait()
}

// keepAlive sends keepalive@openssh.com every interval and declares the
// connection lost after keepAliveMisses consecutive failures or unanswered
// requests. A reply of either kind counts: OpenSSH answers "failure" to
// requests it does not know, which still proves it alive. At most one
// request is in flight: a half-open TCP connection never answers, and the
// next request would only queue behind it.
func (l *link) keepAlive(every time.Duration) {
	defer l.wg.Done()
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var inflight chan error
	missed := 0
	for {
		select {
		case <-l.stop:
			return
		case <-l.dead:
			return
		case <-ticker.C:
		}
		if inflight == nil {
			ch := make(chan error, 1) // buffered: the sender never blocks
			inflight = ch
			go func() {
				_, _, err := l.client.SendRequest("keepalive@openssh.com", true, nil)
				ch <- err
			}()
		}
		wait := time.NewTimer(every)
		select {
		case err := <-inflight:
			inflight = nil
			if err != nil {
				missed++
			} else {
				missed = 0
			}
		case <-wait.C:
			missed++
		case <-l.stop:
			wait.Stop()
			return
		case <-l.dead:
			wait.Stop()
			return
		}
		wait.Stop()
		if missed >= keepAliveMisses {
			l.lose(fmt.Errorf("connection lost: %d keepalives unanswered (every %s)", missed, every))
			return
		}
	}
}
