package lock

import (
	"context"
	"errors"
	"sync"
	"time"
)

// heartbeatTimeout bounds one heartbeat: a host that does not answer in
// time is tried again at the next tick.
const heartbeatTimeout = DefaultTTL / 4

// Keep heartbeats every lock, each in its own goroutine, every `every`
// (DefaultHeartbeat when <= 0) until stop is called or ctx ends. onError
// (if not nil) is called, possibly concurrently for several hosts, with
// the host and error of every heartbeat that fails; a *LostError (the lock
// is no longer ours) is the last one of its lock, which is no longer
// heartbeaten. Other errors are retried on the next tick. stop waits for
// in-flight heartbeats to end and may be called more than once.
func Keep(ctx context.Context, locks []*Lock, every time.Duration, onError func(host string, err error)) (stop func()) {
	if every <= 0 {
		every = DefaultHeartbeat
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, l := range locks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				hctx, hcancel := context.WithTimeout(ctx, heartbeatTimeout)
				err := l.Heartbeat(hctx)
				hcancel()
				if err != nil && ctx.Err() == nil && onError != nil {
					onError(l.host, err)
				}
				var lost *LostError
				if errors.As(err, &lost) {
					return
				}
			}
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
}
