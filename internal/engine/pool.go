package engine

import (
	"context"
	"sync"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// connPool holds one connection per host for the whole run, shared by the
// host's own tasks and the tasks other hosts delegate to it.
type connPool struct {
	mu          sync.Mutex
	m           map[string]*pooled
	ahead       sync.WaitGroup // DialAhead's dials
	cancelAhead []context.CancelFunc
}

// defaultForks is how many hosts a run works on at once when Forks is unset.
const defaultForks = 50

// forks is how many hosts the run works on at once.
func (e *Engine) forks() int {
	if e.Forks <= 0 {
		return defaultForks
	}
	return e.Forks
}

type pooled struct {
	once sync.Once
	t    transport.Transport
	err  error
}

// conn returns the run's connection to h, dialling it on first use.
func (e *Engine) conn(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
	e.pool.mu.Lock()
	if e.pool.m == nil {
		e.pool.m = map[string]*pooled{}
	}
	p := e.pool.m[h.Name]
	if p == nil {
		p = &pooled{}
		e.pool.m[h.Name] = p
	}
	e.pool.mu.Unlock()
	p.once.Do(func() { p.t, p.err = e.Dial(ctx, h) })
	return p.t, p.err
}

// DialAhead starts connecting, in the background, to every host the run
// will read first, so that the connections open while the caller still
// validates the playbook; Run takes them from the pool, and a failed dial
// is reported there as if Run had dialled. Dial must be set. When no Run
// follows, Abandon closes them.
func (e *Engine) DialAhead(ctx context.Context) {
	hosts := e.targets(e.runHosts())
	ctx, cancel := context.WithCancel(ctx)
	e.pool.mu.Lock()
	e.pool.cancelAhead = append(e.pool.cancelAhead, cancel)
	e.pool.mu.Unlock()
	e.pool.ahead.Add(1)
	go func() {
		defer e.pool.ahead.Done()
		parallel.Each(len(hosts), e.forks(), func(i int) { _, _ = e.conn(ctx, hosts[i]) })
	}()
}

// runHosts are the hosts of the run: --limit's, else the inventory's.
func (e *Engine) runHosts() []*inventory.Host {
	if e.Hosts != nil {
		return e.Hosts
	}
	return e.Inventory.Hosts
}

// Abandon stops DialAhead's dials and closes the run's connections.
func (e *Engine) Abandon() {
	e.pool.mu.Lock()
	cancels := e.pool.cancelAhead
	e.pool.cancelAhead = nil
	e.pool.mu.Unlock()
	for _, c := range cancels {
		c() // a dial under way stops; open connections outlive the context
	}
	e.pool.ahead.Wait()
	e.closePool()
}

func (e *Engine) closePool() {
	e.pool.mu.Lock()
	defer e.pool.mu.Unlock()
	for _, p := range e.pool.m {
		if p.t != nil {
			p.t.Close()
		}
	}
	e.pool.m = nil
}
