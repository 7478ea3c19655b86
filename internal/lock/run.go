package lock

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// Options choose how a run locks its hosts. Only RunID and Command are
// required.
type Options struct {
	RunID   string
	Command string // "apply", "rollback"
	Owner   string // "user@machine" of the operator
	// Warn is told, as a line for people, of every lock taken over, lost
	// or not released; nil tells no one.
	Warn func(format string, args ...any)
	// Store is where the locks live on the hosts; the zero Store is
	// DefaultDir.
	Store Store
	// TTL is how long a lock survives its holder's silence (DefaultTTL
	// when 0); Every, how often the run refreshes each lock it holds
	// (DefaultHeartbeat when 0), and so how soon it notices one it lost.
	TTL, Every time.Duration
}

// Run is the deploy locks of one run: it takes the lock of each host the
// run touches (taking over a stale lock, or that of a dead run of this
// machine), keeps each alive while the run lasts, tells which ones the
// run lost, and releases them all at the end. Its methods are safe for
// concurrent use.
type Run struct {
	store Store
	info  Info
	ttl   time.Duration
	every time.Duration
	warn  func(format string, args ...any)
	once  sync.Once

	mu   sync.Mutex
	held map[string]*heldLock // by host
	lost map[string]error     // by host: why the lock is no longer the run's
}

type heldLock struct {
	l    *Lock
	stop func() // its heartbeats
}

// NewRun returns the locks of a run that holds none yet.
func NewRun(o Options) *Run {
	now := time.Now().UTC()
	info := Self()
	info.Owner, info.RunID, info.Command, info.Started, info.Heartbeat = o.Owner, o.RunID, o.Command, now, now
	ttl := o.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	every := o.Every
	if every <= 0 {
		every = DefaultHeartbeat
	}
	warn := o.Warn
	if warn == nil {
		warn = func(string, ...any) {}
	}
	return &Run{store: o.Store, info: info, ttl: ttl, every: every, warn: warn,
		held: map[string]*heldLock{}, lost: map[string]error{}}
}

// Info is what the run's locks say about it.
func (r *Run) Info() Info { return r.info }

// Peek refuses host, reached through t, when another live run holds its
// lock, and changes nothing. A free, stale or corrupt lock, or one of a
// dead run of this machine, passes: Take takes it over (and says so) if
// the run comes to change anything.
func (r *Run) Peek(ctx context.Context, host string, t transport.Transport) error {
	holder, err := r.store.Status(ctx, t)
	if err != nil {
		return fmt.Errorf("%s: deploy lock: %w", host, err)
	}
	switch {
	case holder == nil, holder.Corrupt, holder.RunID == r.info.RunID:
		return nil
	case time.Since(holder.Heartbeat) > r.ttl, DeadHere(*holder, r.info):
		return nil
	}
	return &HeldError{Host: host, Holder: *holder}
}

// Take takes host's lock through t, and keeps it alive until Release. A
// lock another live run holds gives a *HeldError; a stale one, or one of a
// dead run of this machine (no need to wait out its TTL), is taken over
// with a warning.
func (r *Run) Take(ctx context.Context, host string, t transport.Transport) error {
	l, taken, err := r.store.Acquire(ctx, t, host, r.info, r.ttl)
	var held *HeldError
	dead := ""
	if errors.As(err, &held) && DeadHere(held.Holder, r.info) {
		dead = held.Holder.RunID
		l, taken, err = r.store.TakeOver(ctx, t, host, r.info, r.ttl, held.Holder)
	}
	if err != nil {
		return err
	}
	switch {
	case taken != nil && dead != "" && taken.RunID == dead:
		r.warn("%s: took over the deploy lock of a dead run on this machine: %s", host, Describe(*taken, time.Now()))
	case taken != nil:
		r.warn("%s: took over a stale deploy lock: %s", host, Describe(*taken, time.Now()))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[host] == nil {
		r.held[host] = &heldLock{l, Keep(context.Background(), []*Lock{l}, r.every, r.heartbeatFailed)}
	}
	return nil
}

// heartbeatFailed is told of each failed heartbeat.
func (r *Run) heartbeatFailed(host string, err error) {
	var lost *LostError
	if errors.As(err, &lost) {
		if r.lose(host, err) {
			r.warn("%v: the run makes no further change", err)
		}
		return
	}
	r.warn("%v", err)
}

// lose records that host's lock is no longer the run's, and reports
// whether that is news. A later err replaces an earlier one: it knows
// better who holds the lock now.
func (r *Run) lose(host string, err error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, known := r.lost[host]
	r.lost[host] = err
	return !known
}

// Held returns a shell condition that holds, on host, while the run holds
// host's lock: for a check in the same round trip as a change. For a host
// the run has not locked, or whose lock it lost, it never holds.
func (r *Run) Held(host string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.held[host]
	if h == nil || r.lost[host] != nil {
		return "false"
	}
	return h.l.Held()
}

// Confirm finds out why Held did not hold on host: who holds the lock now.
func (r *Run) Confirm(ctx context.Context, host string) error {
	r.mu.Lock()
	h := r.held[host]
	r.mu.Unlock()
	if h == nil {
		return fmt.Errorf("%s: not changed: the run has not locked it", host)
	}
	err := h.l.Heartbeat(ctx)
	var lost *LostError
	if errors.As(err, &lost) {
		if r.lose(host, err) {
			r.warn("%v: the run makes no further change", err)
		}
		return err
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%s: deploy lock: the check before a change failed on the host", host)
}

// Lost returns, by host, why the run no longer holds each lock it lost;
// none while it holds them all.
func (r *Run) Lost() map[string]error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.lost)
}

// Release stops the heartbeats and releases every lock the run still
// holds, even after an interrupt (it does not use the run's context). A
// lost lock found released is read again, to name whoever holds it now.
// It must run before the connections close; later calls do nothing.
func (r *Run) Release() { r.once.Do(r.releaseAll) }

func (r *Run) releaseAll() {
	r.mu.Lock()
	held := maps.Clone(r.held)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for host, h := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.stop()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r.mu.Lock()
			lostErr := r.lost[host]
			r.mu.Unlock()
			var lost *LostError
			switch {
			case errors.As(lostErr, &lost) && lost.Holder == nil:
				if err := h.l.Heartbeat(ctx); errors.As(err, &lost) {
					r.lose(host, err)
				}
			case lostErr != nil:
			default:
				if err := h.l.Release(ctx); err != nil {
					if errors.As(err, &lost) {
						r.lose(host, err)
					}
					r.warn("releasing the deploy lock: %v", err)
				}
			}
		}()
	}
	wg.Wait()
}
