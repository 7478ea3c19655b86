package ssh

import (
	"context"
	"sync"
)

// maxBastionStarts bounds the connections a process has open to one
// bastion and not yet logged in. Every host behind a bastion opens its own
// connection to it, and sshd's MaxStartups (10:30:100 by default) refuses
// new connections at random once 10 are unauthenticated: a run working on
// 50 hosts at once would lose some of them. It stays below 10 to leave room
// for the operator's other sessions.
const maxBastionStarts = 8

// startSlots are the slots for unauthenticated connections, by endpoint.
type startSlots struct {
	mu    sync.Mutex
	limit int
	by    map[string]chan struct{}
}

var bastionStarts = &startSlots{limit: maxBastionStarts, by: map[string]chan struct{}{}}

// acquire waits for a slot to connect to addr; release gives it back once
// the connection has logged in or failed.
func (s *startSlots) acquire(ctx context.Context, addr string) (release func(), err error) {
	s.mu.Lock()
	ch, ok := s.by[addr]
	if !ok {
		ch = make(chan struct{}, s.limit)
		s.by[addr] = ch
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
