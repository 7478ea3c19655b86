package lock

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Keep heartbeats every lock, each in its own goroutine, every `every`
// (DefaultHeartbeat when <= 0) until stop is called or ctx ends. When a
// heartbeat finds that a lock is no longer ours (*LostError), onLost (if not
// nil) is called with its host, possibly concurrently for several hosts, and
// that lock is no longer heartbeaten. Other errors are retried on the next
// tick. stop waits for in-flight heartbeats to end and may be called more
// than once.
func Keep(ctx context.Context, locks []*Lock, every time.Duration, onLost func(host string, err error)) (stop func()) {
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
				err := l.Heartbeat(ctx)
				var lost *LostError
				if errors.As(err, &lost) {
					if onLost != nil {
						onLost(l.host, err)
					}
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
