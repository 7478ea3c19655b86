// Package lock is the per-host deploy lock: an apply or a rollback holds it
// on every host it touches, so that a second run is refused with the name of
// who holds the lock and since when. The holder refreshes a heartbeat while
// it runs (see Keep); a lock whose heartbeat is older than a TTL, on the
// host's own clock, belongs to a dead run and is taken over.
//
// On the host the lock is a JSON file, DefaultDir/lock, written by root. Every
// read-modify-write happens in one remote script under flock(1) on
// DefaultDir/lock.flock, so two skiff processes racing for a host cannot both
// win, and the file is replaced by rename, so a killed write never leaves a
// half-written lock.
//
// Run is the whole lifecycle of one run's locks: the check before the run
// reads, the take (with the takeover rules), the heartbeats, the loss
// noticed, the release.
package lock

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/skiffdeploy/skiff/internal/transport"
)

const (
	// DefaultDir holds the lock file on each host (created 0700, as root).
	DefaultDir = "/var/lib/skiff"
	// DefaultTTL is how old a heartbeat may get before its lock counts as
	// abandoned and is taken over.
	DefaultTTL = 2 * time.Minute
	// DefaultHeartbeat is how often a holder should refresh its heartbeat
	// (well under DefaultTTL, so a slow round trip or two don't matter).
	DefaultHeartbeat = 20 * time.Second
)

// Info says who holds a lock. Times that this package returns are on the
// caller's clock: they are derived from their age on the host's clock.
type Info struct {
	Owner   string `json:"owner"`   // "user@machine" of the operator
	RunID   string `json:"run_id"`  // the run holding the lock
	Command string `json:"command"` // "apply", "rollback"
	PID     int    `json:"pid"`     // of the skiff process on the operator's machine
	// Machine, PIDSpace and PIDStart tell that process from any other (see
	// Self and DeadHere); empty in a lock of an older skiff.
	Machine   string    `json:"machine,omitempty"`   // digest of the machine's id
	PIDSpace  string    `json:"pid_space,omitempty"` // digest of its boot and PID namespace
	PIDStart  uint64    `json:"pid_start,omitempty"` // the process's start, in clock ticks after boot
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"` // refreshed while the run lives
	// Corrupt is set, with nothing else, when the lock file could not be
	// read: such a lock counts as abandoned and Acquire takes it over.
	Corrupt bool `json:"corrupt,omitempty"`
}

// Store is where the lock lives on a host. The zero Store uses DefaultDir;
// tests point Dir at a temporary directory.
type Store struct {
	Dir string
}

func (s Store) dir() string {
	if s.Dir == "" {
		return DefaultDir
	}
	return s.Dir
}

// Lock is a held deploy lock on one host. Its methods are safe for
// concurrent use.
type Lock struct {
	store     Store
	t         transport.Transport
	host      string
	runIDLine string

	mu   sync.Mutex
	info Info
}

// Acquire takes the deploy lock of host through t with DefaultDir; see
// Store.Acquire.
func Acquire(ctx context.Context, t transport.Transport, host string, info Info, ttl time.Duration) (l *Lock, takenOver *Info, err error) {
	return Store{}.Acquire(ctx, t, host, info, ttl)
}

// Status reports who holds the lock at DefaultDir; see Store.Status.
func Status(ctx context.Context, t transport.Transport) (*Info, error) {
	return Store{}.Status(ctx, t)
}

// ForceRelease removes the lock at DefaultDir; see Store.ForceRelease.
func ForceRelease(ctx context.Context, t transport.Transport) (*Info, error) {
	return Store{}.ForceRelease(ctx, t)
}

// Acquire takes the deploy lock of host (the name used in errors) for info,
// whose RunID must be set. Started and Heartbeat default to now.
//
// The lock is taken when it is free, when it already belongs to info.RunID,
// when its heartbeat is older than ttl on the host's clock (ttl <= 0 means
// DefaultTTL; it is rounded up to whole seconds), or when its file is
// corrupt; in the last two cases takenOver is the previous holder (Corrupt
// set for a corrupt file). A lock held by a live run gives a *HeldError.
func (s Store) Acquire(ctx context.Context, t transport.Transport, host string, info Info, ttl time.Duration) (l *Lock, takenOver *Info, err error) {
	return s.acquire(ctx, t, host, info, ttl, "")
}

// TakeOver acquires the lock as Acquire does, and also when it is still
// held by the run of dead, known to be dead (see DeadHere): checked under
// the host's flock, so a lock that passed to another run meanwhile is not
// taken. takenOver is then dead's lock, as the host shows it.
func (s Store) TakeOver(ctx context.Context, t transport.Transport, host string, info Info, ttl time.Duration, dead Info) (l *Lock, takenOver *Info, err error) {
	line, err := runIDLineOf(dead.RunID)
	if err != nil || dead.RunID == "" {
		return nil, nil, fmt.Errorf("%s: deploy lock: no run to take over", host)
	}
	return s.acquire(ctx, t, host, info, ttl, line)
}

func (s Store) acquire(ctx context.Context, t transport.Transport, host string, info Info, ttl time.Duration, deadLine string) (l *Lock, takenOver *Info, err error) {
	if info.RunID == "" {
		return nil, nil, fmt.Errorf("%s: deploy lock: no run id", host)
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	now := time.Now()
	if info.Started.IsZero() {
		info.Started = now
	}
	info.Heartbeat = now
	info.Corrupt = false
	jsonBody, runIDLine, err := body(info)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: deploy lock: %w", host, err)
	}
	ttlSec := int64(math.Ceil(ttl.Seconds()))
	r, err := s.run(ctx, t, host, acquireScript(s.dir(), runIDLine, jsonBody, ttlSec, deadLine))
	if err != nil {
		return nil, nil, err
	}
	switch r.state {
	case "acquired", "ours":
	case "stale", "dead":
		takenOver = r.holder(now)
	case "corrupt":
		takenOver = &Info{Corrupt: true}
	case "held":
		return nil, nil, &HeldError{Host: host, Holder: *r.holder(now)}
	default:
		return nil, nil, fmt.Errorf("%s: deploy lock: unexpected state %q", host, r.state)
	}
	return &Lock{store: s, t: t, host: host, runIDLine: runIDLine, info: info}, takenOver, nil
}

// Status reports who holds the lock: nil, nil when it is free. It changes
// nothing on the host (not even creating the lock directory).
func (s Store) Status(ctx context.Context, t transport.Transport) (*Info, error) {
	r, err := s.run(ctx, t, "", statusScript(s.dir()))
	if err != nil {
		return nil, err
	}
	return s.shown(r, "held")
}

// ForceRelease removes whatever lock there is, live or not, and returns what
// it removed (nil when the lock was free). Only for a holder known to be dead.
func (s Store) ForceRelease(ctx context.Context, t transport.Transport) (*Info, error) {
	r, err := s.run(ctx, t, "", forceReleaseScript(s.dir()))
	if err != nil {
		return nil, err
	}
	return s.shown(r, "removed")
}

// shown returns the lock that a Status or ForceRelease script printed.
func (s Store) shown(r reply, held string) (*Info, error) {
	switch r.state {
	case "free":
		return nil, nil
	case held:
		return r.holder(time.Now()), nil
	}
	return nil, fmt.Errorf("deploy lock: unexpected state %q", r.state)
}

// Host is the host the lock is on.
func (l *Lock) Host() string { return l.host }

// Info is what the lock says about its holder.
func (l *Lock) Info() Info {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Held is a shell condition that holds, in a script run as root on the
// host, while the lock is still this one: for a check in the same round
// trip as a change. It reads the lock file without flock, which a rename
// replaces whole.
func (l *Lock) Held() string {
	return "grep -qxF -e " + shQuote(l.runIDLine) + " " + shQuote(l.store.dir()+"/lock") + " 2>/dev/null"
}

// Heartbeat refreshes the lock's heartbeat. When the lock is no longer ours
// (released by force, or taken over after the TTL) it returns a *LostError
// and changes nothing; other errors (host unreachable…) may pass.
func (l *Lock) Heartbeat(ctx context.Context) error {
	l.mu.Lock()
	info := l.info
	info.Heartbeat = time.Now()
	l.mu.Unlock()
	jsonBody, _, err := body(info)
	if err != nil {
		return fmt.Errorf("%s: deploy lock: %w", l.host, err)
	}
	r, err := l.store.run(ctx, l.t, l.host, heartbeatScript(l.store.dir(), l.runIDLine, jsonBody))
	if err != nil {
		return err
	}
	switch r.state {
	case "ok":
		l.mu.Lock()
		l.info.Heartbeat = info.Heartbeat
		l.mu.Unlock()
		return nil
	case "gone":
		return &LostError{Host: l.host}
	case "other":
		return &LostError{Host: l.host, Holder: r.holder(time.Now())}
	}
	return fmt.Errorf("%s: deploy lock: unexpected state %q", l.host, r.state)
}

// Release removes the lock if it is still ours; it is no error when the lock
// is already gone. A lock that another run now holds is left alone and
// reported as a *LostError.
func (l *Lock) Release(ctx context.Context) error {
	r, err := l.store.run(ctx, l.t, l.host, releaseScript(l.store.dir(), l.runIDLine))
	if err != nil {
		return err
	}
	switch r.state {
	case "released", "gone", "free":
		return nil
	case "other":
		return &LostError{Host: l.host, Holder: r.holder(time.Now())}
	}
	return fmt.Errorf("%s: deploy lock: unexpected state %q", l.host, r.state)
}

// run runs a lock script and parses its output. Errors name host when it is
// known; unreachable errors, which name it already, pass unwrapped.
func (s Store) run(ctx context.Context, t transport.Transport, host string, sc script) (reply, error) {
	prefix := "deploy lock"
	if host != "" {
		prefix = host + ": deploy lock"
	}
	res, err := t.Run(ctx, sc.text)
	if err != nil {
		if transport.IsUnreachable(err) {
			return reply{}, err
		}
		return reply{}, fmt.Errorf("%s: %w", prefix, err)
	}
	if res.ExitCode != 0 {
		return reply{}, fmt.Errorf("%s: script on %s exited %d: %s", prefix, s.dir(), res.ExitCode, trim(res.Stderr))
	}
	r, err := parseReply(res.Stdout, sc.tok)
	if err != nil {
		return reply{}, fmt.Errorf("%s: %w", prefix, err)
	}
	return r, nil
}

// trim shortens a script's stderr for an error message.
func trim(b []byte) string {
	const limit = 500
	s := strings.TrimRight(string(b), " \n")
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}
