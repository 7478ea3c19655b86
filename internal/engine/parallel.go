package engine

import (
	"sync"

	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Parallel calls fn(0) … fn(n-1), at most forks at once, and waits for all.
func Parallel(n, forks int, fn func(i int)) {
	sem := make(chan struct{}, max(forks, 1))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// StatusOf is the host status an error means: unreachable when the
// connection failed, failed otherwise.
func StatusOf(err error) plan.Status {
	if transport.IsUnreachable(err) {
		return plan.StatusUnreachable
	}
	return plan.StatusFailed
}
