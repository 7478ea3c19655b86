package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/lock"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/version"
)

// lockTTL is how long a lock survives its holder's silence before another
// run may take it over; heartbeats come every lockTTL/6.
const lockTTL = lock.DefaultTTL

// owner names the operator in locks and journals: user@machine.
func owner() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// runsDir is where journals live: .skiff/runs beside the inventory.
func (ld *loaded) runsDir() string { return filepath.Join(ld.invCfg.Dir, ".skiff", "runs") }

// locker takes the deploy lock of each host a run touches, keeps the locks
// alive while the run lasts, and releases them at the end. It is the
// engine's Locks: it tells which locks the run lost, so that the run stops.
type locker struct {
	store lock.Store // where the locks live; the zero Store is lock.DefaultDir
	info  lock.Info
	every time.Duration // between heartbeats
	warn  func(format string, args ...any)
	once  sync.Once

	mu   sync.Mutex
	held map[string]*heldLock // by host
	lost map[string]error     // by host: why the lock is no longer the run's
}

type heldLock struct {
	l    *lock.Lock
	stop func() // its heartbeats
}

// heartbeatEvery is how often the run refreshes each lock, and so how soon
// it notices a lock it lost on a host where it changes nothing more.
const heartbeatEvery = lockTTL / 6

func newLocker(runID, command string, warn func(string, ...any)) *locker {
	now := time.Now().UTC()
	info := lock.Self()
	info.Owner, info.RunID, info.Command, info.Started, info.Heartbeat = owner(), runID, command, now, now
	return &locker{info: info, every: heartbeatEvery, warn: warn, held: map[string]*heldLock{}, lost: map[string]error{}}
}

// acquire is the engine's Prepare hook.
func (lk *locker) acquire(ctx context.Context, h *inventory.Host, t transport.Transport) error {
	l, taken, err := lk.store.Acquire(ctx, t, h.Name, lk.info, lockTTL)
	var held *lock.HeldError
	dead := ""
	if errors.As(err, &held) && lock.DeadHere(held.Holder, lk.info) {
		// The holder ran on this machine, as this user, and its process is
		// gone (killed): no need to wait out the TTL.
		dead = held.Holder.RunID
		l, taken, err = lk.store.TakeOver(ctx, t, h.Name, lk.info, lockTTL, held.Holder)
	}
	if err != nil {
		return err
	}
	switch {
	case taken != nil && dead != "" && taken.RunID == dead:
		lk.warn("%s: took over the deploy lock of a dead run on this machine: %s", h.Name, lock.Describe(*taken, time.Now()))
	case taken != nil:
		lk.warn("%s: took over a stale deploy lock: %s", h.Name, lock.Describe(*taken, time.Now()))
	}
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if lk.held[h.Name] == nil {
		lk.held[h.Name] = &heldLock{l, lock.Keep(context.Background(), []*lock.Lock{l}, lk.every, lk.heartbeatFailed)}
	}
	return nil
}

// peek is the engine's Peek hook: it refuses a host whose lock another
// live run holds, and changes nothing. A free, stale or corrupt lock, or
// one of a dead run of this machine, is left to acquire, which takes it
// over (and says so) if the run comes to change anything.
func (lk *locker) peek(ctx context.Context, h *inventory.Host, t transport.Transport) error {
	holder, err := lk.store.Status(ctx, t)
	if err != nil {
		return fmt.Errorf("%s: deploy lock: %w", h.Name, err)
	}
	switch {
	case holder == nil, holder.Corrupt, holder.RunID == lk.info.RunID:
		return nil
	case time.Since(holder.Heartbeat) > lockTTL, lock.DeadHere(*holder, lk.info):
		return nil
	}
	return &lock.HeldError{Host: h.Name, Holder: *holder}
}

// heartbeatFailed is told of each failed heartbeat.
func (lk *locker) heartbeatFailed(host string, err error) {
	var lost *lock.LostError
	if errors.As(err, &lost) {
		if lk.lose(host, err) {
			lk.warn("%v: the run makes no further change", err)
		}
		return
	}
	lk.warn("%v", err)
}

// lose records that host's lock is no longer the run's, and reports
// whether that is news. A later err replaces an earlier one: it knows
// better who holds the lock now.
func (lk *locker) lose(host string, err error) bool {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	_, known := lk.lost[host]
	lk.lost[host] = err
	return !known
}

// Held is the engine's check before a change on host (see engine.Locks).
func (lk *locker) Held(host string) string {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	h := lk.held[host]
	if h == nil || lk.lost[host] != nil {
		return "false"
	}
	return h.l.Held()
}

// Confirm finds out why Held did not hold on host: who holds the lock now.
func (lk *locker) Confirm(ctx context.Context, host string) error {
	lk.mu.Lock()
	h := lk.held[host]
	lk.mu.Unlock()
	if h == nil {
		return fmt.Errorf("%s: not changed: the run has not locked it", host)
	}
	err := h.l.Heartbeat(ctx)
	var lost *lock.LostError
	if errors.As(err, &lost) {
		if lk.lose(host, err) {
			lk.warn("%v: the run makes no further change", err)
		}
		return err
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%s: deploy lock: the check before a change failed on the host", host)
}

// Lost returns why each lost lock is lost, by host (see engine.Locks).
func (lk *locker) Lost() map[string]error {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return maps.Clone(lk.lost)
}

// release stops the heartbeats and releases every lock the run still
// holds, even after an interrupt (it does not use the run's context). A
// lost lock found released is read again, to name whoever holds it now.
// It must run before the connections close; later calls do nothing.
func (lk *locker) release() { lk.once.Do(lk.releaseAll) }

func (lk *locker) releaseAll() {
	lk.mu.Lock()
	held := maps.Clone(lk.held)
	lk.mu.Unlock()
	var wg sync.WaitGroup
	for host, h := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.stop()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			lk.mu.Lock()
			lostErr := lk.lost[host]
			lk.mu.Unlock()
			var lost *lock.LostError
			switch {
			case errors.As(lostErr, &lost) && lost.Holder == nil:
				if err := h.l.Heartbeat(ctx); errors.As(err, &lost) {
					lk.lose(host, err)
				}
			case lostErr != nil:
			default:
				if err := h.l.Release(ctx); err != nil {
					if errors.As(err, &lost) {
						lk.lose(host, err)
					}
					lk.warn("releasing the deploy lock: %v", err)
				}
			}
		}()
	}
	wg.Wait()
}

// reportLost tells, at the end of a run, of every lock it lost: each such
// host fails (it is added to p when it was only a delegate), and stderr
// names the host and who holds its lock now.
func (g *globals) reportLost(lk *locker, p *plan.Plan) {
	lost := lk.Lost()
	if len(lost) == 0 {
		return
	}
	hosts := slices.Sorted(maps.Keys(lost))
	for _, name := range hosts {
		err := lost[name]
		fmt.Fprintf(g.stderr, "skiff: %v\n", err)
		i := slices.IndexFunc(p.Hosts, func(h *plan.Host) bool { return h.Name == name })
		switch {
		case i < 0:
			p.Hosts = append(p.Hosts, &plan.Host{Name: name, Status: plan.StatusFailed, Error: err.Error()})
		case p.Hosts[i].Error == "":
			p.Hosts[i].Status, p.Hosts[i].Error = plan.StatusFailed, err.Error()
		}
	}
	fmt.Fprintf(g.stderr, "skiff: the run stopped when it noticed that it lost the deploy lock of %s: no task ran after that, and interrupted plays were rolled back only where it still held the lock\n", strings.Join(hosts, ", "))
	p.Finish()
}

// startJournal opens the run's journal; apply and rollback record into it.
func (g *globals) startJournal(ld *loaded, command, playbook, of string) (*journal.Writer, error) {
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, _ := filepath.Abs(p)
		return a
	}
	w, err := journal.Create(ld.runsDir(), journal.Run{
		ID: ld.engine.RunID, Command: command, Owner: owner(), Inventory: abs(g.inventory),
		Playbook: abs(playbook), Started: time.Now().UTC(), Version: version.String(), Of: of,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot record the run: %w", err)
	}
	return w, nil
}

// outcome is how an apply that returned p ended, for its journal.
func outcome(p *plan.Plan, refused []string) journal.Outcome {
	o := journal.Outcome{Ended: time.Now().UTC(), Failed: []string{}}
	for _, h := range p.Hosts {
		if h.Status == plan.StatusFailed || h.Status == plan.StatusUnreachable {
			o.Failed = append(o.Failed, h.Name)
		}
	}
	for _, name := range refused {
		if !slices.Contains(o.Failed, name) {
			o.Failed = append(o.Failed, name)
		}
	}
	return o
}
