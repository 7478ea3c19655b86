package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// Locker is the deploy locks of a run (package lock's Run): the engine
// checks them while it reads, takes them before the run's first change
// (see lazylock.go), makes a change on a host only while the run holds
// that host's lock (checked on the host, in the round trip that records
// the change), and releases them at the end of the run. Once the run has
// lost any lock it stops before its next change anywhere: the task under
// way finishes, and the interrupted plays are rolled back as for an
// interrupt, but not on a host whose lock the run lost.
type Locker interface {
	Guard
	// Peek refuses host when another run holds its lock; it changes
	// nothing, and runs at most one script through t: the engine reads the
	// host's facts in that script's session (see factsRider).
	Peek(ctx context.Context, host string, t transport.Transport) error
	// Take takes host's lock, and keeps it until Release.
	Take(ctx context.Context, host string, t transport.Transport) error
	// Lost returns, by host, why the run no longer holds each lock it lost;
	// none while it holds them all. The engine reads it before each change.
	Lost() map[string]error
	// Release releases every lock the run holds; later calls do nothing.
	Release()
}

// Guard tells whether the run still holds a host's lock, on the host.
type Guard interface {
	// Held returns a shell condition that holds, on host, while the run
	// holds host's deploy lock; for a host the run has not locked, one that
	// never holds.
	Held(host string) string
	// Confirm is called when Held did not hold on host: it finds out who
	// holds the lock now and returns the error that says so.
	Confirm(ctx context.Context, host string) error
}

// Guarded returns t, which reaches host, with every script run only while
// the run holds host's lock in locks: the check and the script are one
// round trip. A script the check stops does not run, and Run returns
// locks.Confirm's error. Nil locks leave t as it is.
func Guarded(t transport.Transport, locks Guard, host string) transport.Transport {
	if locks == nil {
		return t
	}
	return &guarded{Transport: t, locks: locks, host: host}
}

type guarded struct {
	transport.Transport
	locks Guard
	host  string
}

func (g *guarded) Run(ctx context.Context, script string) (transport.Result, error) {
	stopped := "@@" + token() + " not held\n"
	res, err := g.Transport.Run(ctx, "if ! { "+g.locks.Held(g.host)+"\n}; then printf '%s' '"+stopped+"'; exit 1; fi\n"+script)
	if err == nil && bytes.HasPrefix(res.Stdout, []byte(stopped)) {
		if err = g.locks.Confirm(ctx, g.host); err == nil {
			err = fmt.Errorf("%s: the run no longer holds the deploy lock", g.host)
		}
	}
	return res, err
}

// lockLost is why the run must stop because it lost deploy locks (each
// loss, in host order); nil while it holds them all, or has none.
func lockLost(locks Locker) error {
	if locks == nil {
		return nil
	}
	lost := locks.Lost()
	if len(lost) == 0 {
		return nil
	}
	hosts := make([]string, 0, len(lost))
	for h := range lost {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	msgs := make([]string, len(hosts))
	for i, h := range hosts {
		msgs[i] = lost[h].Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}
