// Package parallel works on many hosts at once, a bounded number at a time.
package parallel

import "sync"

// Each calls fn(0) … fn(n-1), at most limit at once (one when limit < 1),
// and returns when every call has.
func Each(n, limit int, fn func(i int)) {
	sem := make(chan struct{}, max(limit, 1))
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
