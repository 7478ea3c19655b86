package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// RetryObserver is implemented by Observers that show a task's failed
// try before it is tried again.
type RetryObserver interface {
	// TaskRetrying: task failed its try on host (err says why) and runs
	// again after wait, unless its check then finds nothing to do.
	TaskRetrying(host, play, task string, try int, wait time.Duration, err string)
}

func (o scrubbedObserver) TaskRetrying(host, play, task string, try int, wait time.Duration, err string) {
	if r, ok := o.Observer.(RetryObserver); ok {
		r.TaskRetrying(host, play, task, try, wait, o.scrub(err))
	}
}

// applyTrying applies b's module on conn. When that fails and the task sets
// retries, it waits the task's delay, checks the task again (a change made
// by a failed try, or by something else meanwhile, may have converged it:
// it then stops, done) and applies again, up to retries more times. It
// returns how many times it applied, and the last try's error.
func (e *Engine) applyTrying(ctx context.Context, hr *hostRun, play string, b *Bound, conn transport.Transport) (tries int, err error) {
	// A try under way finishes even when the run is interrupted (stopping
	// it half-way could leave the host half-changed); an interrupted run
	// starts no further try.
	applyCtx := module.WithHostConns(context.WithoutCancel(ctx), e.runConn)
	for tries = 1; ; tries++ {
		e.probes.changed()
		err = b.Module.Apply(applyCtx, conn)
		if err == nil || tries > b.Task.Retries {
			return tries, err
		}
		wait := b.Task.RetryDelay()
		if r, ok := e.told.(RetryObserver); ok {
			r.TaskRetrying(hr.host.Name, play, b.ID(), tries, wait, err.Error())
		}
		if !sleep(ctx, wait) {
			return tries, fmt.Errorf("interrupted before try %d: %w", tries+1, err)
		}
		e.probes.changed()
		changes, cerr := e.check(ctx, hr, []*Bound{b})
		if cerr != nil {
			return tries, fmt.Errorf("checking again before try %d: %w (try %d failed: %v)", tries+1, cerr, tries, err)
		}
		// Converged: nothing left to do. An if_changed task runs whatever
		// its own check finds, so it is tried again regardless.
		if changes[0] == nil && len(b.Task.IfChanged) == 0 {
			return tries, nil
		}
	}
}

// sleep waits d, or less when ctx ends first; false when it did.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
