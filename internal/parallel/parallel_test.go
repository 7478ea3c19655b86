package parallel

import (
	"sync"
	"testing"
)

// Each calls fn once for every index, never more than limit at a time.
func TestEachBoundsAndCoversEveryIndex(t *testing.T) {
	for _, limit := range []int{0, 1, 3, 50} {
		var mu sync.Mutex
		running, most := 0, 0
		seen := make([]int, 20)
		Each(len(seen), limit, func(i int) {
			mu.Lock()
			running++
			most = max(most, running)
			seen[i]++
			mu.Unlock()
			mu.Lock()
			running--
			mu.Unlock()
		})
		for i, n := range seen {
			if n != 1 {
				t.Errorf("limit %d: fn(%d) called %d times", limit, i, n)
			}
		}
		if most > max(limit, 1) {
			t.Errorf("limit %d: %d calls at once", limit, most)
		}
	}
}
