package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"time"

	"skiff/internal/inventory"
	"skiff/internal/journal"
	"skiff/internal/lock"
	"skiff/internal/transport"
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
// alive while the run lasts, and releases them at the end.
type locker struct {
	store lock.Store // where the locks live; the zero Store is lock.DefaultDir
	info  lock.Info
	mu    sync.Mutex
	held  []*lock.Lock
	stop  chan struct{}
	done  chan struct{}
	warn  func(format string, args ...any)
	once  sync.Once
}

func newLocker(runID, command string, warn func(string, ...any)) *locker {
	now := time.Now().UTC()
	info := lock.Self()
	info.Owner, info.RunID, info.Command, info.Started, info.Heartbeat = owner(), runID, command, now, now
	lk := &locker{
		info: info,
		stop: make(chan struct{}), done: make(chan struct{}), warn: warn,
	}
	go lk.keep()
	return lk
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
	lk.held = append(lk.held, l)
	lk.mu.Unlock()
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

func (lk *locker) keep() {
	defer close(lk.done)
	tick := time.NewTicker(lockTTL / 6)
	defer tick.Stop()
	for {
		select {
		case <-lk.stop:
			return
		case <-tick.C:
			lk.mu.Lock()
			held := append([]*lock.Lock(nil), lk.held...)
			lk.mu.Unlock()
			// In parallel: a frozen host must not delay the others' heartbeats
			// past the TTL.
			var wg sync.WaitGroup
			for _, l := range held {
				wg.Add(1)
				go func(l *lock.Lock) {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), lockTTL/4)
					defer cancel()
					if err := l.Heartbeat(ctx); err != nil {
						lk.warn("%v", err)
					}
				}(l)
			}
			wg.Wait()
		}
	}
}

// release stops the heartbeats and releases every lock, even after an
// interrupt (it does not use the run's context). It must run before the
// connections close; later calls do nothing.
func (lk *locker) release() { lk.once.Do(lk.releaseAll) }

func (lk *locker) releaseAll() {
	close(lk.stop)
	<-lk.done
	lk.mu.Lock()
	defer lk.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range lk.held {
		wg.Add(1)
		go func(l *lock.Lock) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := l.Release(ctx); err != nil {
				lk.warn("releasing the deploy lock: %v", err)
			}
		}(l)
	}
	wg.Wait()
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
		Playbook: abs(playbook), Started: time.Now().UTC(), Of: of,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot record the run: %w", err)
	}
	return w, nil
}
