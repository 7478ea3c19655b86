package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// Dial connects to the host described by cfg and returns a Transport that
// keeps that one connection for its whole life. ctx bounds the dial only.
//
// Errors: *transport.UnreachableError when the host (or its bastion) cannot
// be reached or the handshake breaks; *HostKeyError when a host key is
// refused; *AuthError when every key is refused; plain errors for bad
// configuration.
func Dial(ctx context.Context, cfg Config) (transport.Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l, err := dialLink(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Transport{
		cfg: cfg,
		sem: make(chan struct{}, cfg.MaxSessions),
		cur: l,
	}, nil
}

// dialLink opens one connection to the host, through its bastion if any.
func dialLink(ctx context.Context, cfg Config) (*link, error) {
	cr, err := loadCredentials(cfg)
	if err != nil {
		return nil, err
	}
	defer cr.close()

	target := cfg.target()
	if cfg.Bastion == "" {
		client, err := dialHop(ctx, cfg, target, cr, false)
		if err != nil {
			return nil, err
		}
		return newLink(cfg, client, nil), nil
	}

	b, err := parseEndpoint(cfg.Bastion, cfg.User)
	if err != nil {
		return nil, fmt.Errorf("%s: ssh: bastion %q: %w", cfg.Host, cfg.Bastion, err)
	}
	release, err := bastionStarts.acquire(ctx, b.addr())
	if err != nil {
		return nil, fmt.Errorf("%s: connect to bastion %s: %w", cfg.Host, b.addr(), err)
	}
	jump, err := dialHop(ctx, cfg, b, cr, true)
	release()
	if err != nil {
		return nil, err
	}
	// The forward and the target's handshake share one ConnectTimeout.
	// x/crypto's forwarded conns have no deadlines: closing the bastion
	// connection is what unblocks them.
	deadline := time.Now().Add(cfg.ConnectTimeout)
	var conn net.Conn
	err = within(ctx, deadline, cfg.ConnectTimeout, func() { jump.Close() }, func() (err error) {
		conn, err = jump.Dial("tcp", target.addr())
		return err
	})
	if err != nil {
		jump.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: connect to %s via bastion %s: %w", cfg.Host, target.addr(), b.addr(), err)
		}
		return nil, &transport.UnreachableError{Host: cfg.Host, Err: fmt.Errorf("via bastion %s: connect to %s: %w", b.addr(), target.addr(), err)}
	}
	client, err := handshake(ctx, cfg, conn, target, cr, deadline, false, func() {
		conn.Close()
		jump.Close()
	})
	if err != nil {
		jump.Close()
		return nil, err
	}
	return newLink(cfg, client, jump), nil
}

// dialHop connects to ep over TCP and logs in, within ConnectTimeout.
func dialHop(ctx context.Context, cfg Config, ep endpoint, cr *credentials, bastion bool) (*gossh.Client, error) {
	deadline := time.Now().Add(cfg.ConnectTimeout)
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "tcp", ep.addr())
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: connect to %s: %w", cfg.Host, ep.addr(), ctx.Err())
		}
		return nil, unreachable(cfg.Host, bastion, fmt.Errorf("connect to %s: %w", ep.addr(), err))
	}
	return handshake(ctx, cfg, conn, ep, cr, deadline, bastion, func() { conn.Close() })
}

// handshake runs the SSH handshake over conn, checking the host key and
// logging in as ep.user; abort closes conn (and whatever carries it).
func handshake(ctx context.Context, cfg Config, conn net.Conn, ep endpoint, cr *credentials, deadline time.Time, bastion bool, abort func()) (*gossh.Client, error) {
	chk, release, err := cfg.HostKeys.checker(cfg.KnownHosts, ep.addr(), cfg.AcceptNewHostKeys)
	if err != nil {
		abort()
		return nil, fmt.Errorf("%s: known_hosts %s: %w", cfg.Host, cfg.KnownHosts, err)
	}
	defer release()

	cc := &gossh.ClientConfig{
		User:              ep.user,
		Auth:              []gossh.AuthMethod{cr.method()},
		HostKeyCallback:   chk.verify,
		HostKeyAlgorithms: chk.algorithms(),
	}
	var (
		sc    gossh.Conn
		chans <-chan gossh.NewChannel
		reqs  <-chan *gossh.Request
	)
	err = within(ctx, deadline, cfg.ConnectTimeout, abort, func() (err error) {
		sc, chans, reqs, err = gossh.NewClientConn(conn, ep.addr(), cc)
		return err
	})
	if err == nil {
		return gossh.NewClient(sc, chans, reqs), nil
	}
	if sc != nil { // the handshake ended just as the deadline fired
		sc.Close()
	}
	if hk := chk.refused(); hk != nil {
		hk.Host, hk.Bastion = cfg.Host, bastion
		return nil, hk
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, fmt.Errorf("%s: ssh handshake with %s: %w", cfg.Host, ep.addr(), err)
	}
	if isAuthFailure(err) {
		return nil, &AuthError{Host: cfg.Host, Bastion: bastion, Address: ep.addr(), User: ep.user, Tried: cr.tried, Err: err}
	}
	if strings.Contains(err.Error(), "no common algorithm") {
		// Reachable, but we cannot agree: with HostKeyAlgorithms pinned to
		// the recorded keys, the server no longer offers any of them.
		return nil, fmt.Errorf("%s: ssh handshake with %s (known_hosts %s): %w", cfg.Host, ep.addr(), cfg.KnownHosts, err)
	}
	return nil, unreachable(cfg.Host, bastion, fmt.Errorf("ssh handshake with %s: %w", ep.addr(), err))
}

func unreachable(host string, bastion bool, err error) error {
	if bastion {
		err = fmt.Errorf("bastion: %w", err)
	}
	return &transport.UnreachableError{Host: host, Err: err}
}

// within runs fn, which blocks on a connection, and calls abort (which must
// close that connection, making fn return) if ctx ends or deadline passes
// first. The reason for the abort then replaces fn's error, which is only
// its consequence; if fn succeeded anyway, the caller must discard its result.
func within(ctx context.Context, deadline time.Time, timeout time.Duration, abort func(), fn func() error) error {
	var (
		mu   sync.Mutex
		done bool
		why  error
	)
	stop := func(reason error) {
		mu.Lock()
		defer mu.Unlock()
		if !done && why == nil {
			why = reason
			abort()
		}
	}
	timer := time.AfterFunc(time.Until(deadline), func() {
		stop(fmt.Errorf("timed out after %s: %w", timeout, os.ErrDeadlineExceeded))
	})
	stopCtx := context.AfterFunc(ctx, func() { stop(ctx.Err()) })
	err := fn()
	timer.Stop()
	stopCtx()
	mu.Lock()
	defer mu.Unlock()
	done = true
	if why != nil {
		return why
	}
	return err
}
