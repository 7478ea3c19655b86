package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"
)

// cluster knows every database server and which one is the writer: the
// only one that answers with read_only off. It asks them all again every
// interval, and at once when the writer refuses a write as read-only, so
// a promotion of another server is followed without a restart or a
// configuration change.
//
// With no writable server, or with more than one (a promotion done while
// the old writer still takes writes), there is no writer: writes are
// refused until exactly one server is writable, so the app never writes
// to two servers that both think they are the primary.
type cluster struct {
	servers  []server
	interval time.Duration // between two checks
	timeout  time.Duration // for one server's answer

	refreshMu sync.Mutex // one check at a time
	kicks     chan struct{}

	mu       sync.Mutex
	started  uint64   // checks begun
	writer   server   // nil: no single writer
	readers  []server // servers that answered read-only
	problem  string   // why there is no writer
	schemaOn server   // the writer whose table is known to exist
}

// errNoWriter: no single writable server; the message says why.
var errNoWriter = errors.New("no single writable database server")

func newCluster(servers []server, interval time.Duration) *cluster {
	return &cluster{servers: servers, interval: interval, timeout: 2 * time.Second, kicks: make(chan struct{}, 1), problem: "not checked yet"}
}

// run checks the servers every interval, and when kicked, until ctx ends.
func (c *cluster) run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kicks:
		}
		c.recheck(ctx, c.checksBegun())
	}
}

// kick asks run for a check now.
func (c *cluster) kick() {
	select {
	case c.kicks <- struct{}{}:
	default:
	}
}

func (c *cluster) checksBegun() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started
}

// recheck checks the servers unless a check begun after the first since
// checks has ended meanwhile: a caller that saw the writer fail waits for
// an answer given after that, and callers failing together share it.
func (c *cluster) recheck(ctx context.Context, since uint64) {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	if c.checksBegun() > since {
		return
	}
	c.refresh(ctx)
}

// refresh asks every server at once whether it is read-only.
func (c *cluster) refresh(ctx context.Context) {
	c.mu.Lock()
	c.started++
	c.mu.Unlock()
	type answer struct {
		readOnly bool
		err      error
	}
	answers := make([]answer, len(c.servers))
	var wg sync.WaitGroup
	for i, s := range c.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			ro, err := s.ReadOnly(actx)
			answers[i] = answer{ro, err}
		}()
	}
	wg.Wait()

	var writable, readers []server
	var notes []string
	for i, a := range answers {
		switch {
		case a.err != nil:
			notes = append(notes, c.servers[i].Addr()+": "+a.err.Error())
		case a.readOnly:
			readers = append(readers, c.servers[i])
			notes = append(notes, c.servers[i].Addr()+": read-only")
		default:
			writable = append(writable, c.servers[i])
		}
	}
	var writer server
	problem := ""
	switch len(writable) {
	case 1:
		writer = writable[0]
	case 0:
		problem = "no writable database server (" + strings.Join(notes, "; ") + ")"
	default:
		problem = "more than one writable database server (" + strings.Join(addrs(writable), ", ") + "): writes wait until only one is"
	}
	if ctx.Err() != nil {
		return // shutting down: keep what was known
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if writer != c.writer || problem != c.problem {
		if writer != nil {
			log.Printf("foobar-app: the writer is %s", writer.Addr())
		} else {
			log.Printf("foobar-app: %s", problem)
		}
	}
	c.writer, c.readers, c.problem = writer, readers, problem
}

func addrs(ss []server) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Addr()
	}
	return out
}

// current is the writer as last checked (nil and why when none) and the
// read-only servers that answered.
func (c *cluster) current() (server, []server, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writer, c.readers, c.problem
}

// currentWriter is the writer, checking first when none is known.
func (c *cluster) currentWriter(ctx context.Context) (server, error) {
	since := c.checksBegun()
	w, _, problem := c.current()
	if w == nil {
		c.recheck(ctx, since)
		w, _, problem = c.current()
	}
	if w == nil {
		return nil, fmt.Errorf("%w: %s", errNoWriter, problem)
	}
	return w, nil
}

// write runs f on the writer (its table created first, once). When the
// writer refuses as read-only (another server was promoted), it checks the
// servers again at once and runs f on the new writer: a refused statement
// changed nothing, so running it again writes once. Any other error is
// returned as it is, since a lost connection may or may not have
// committed, and a check is started for the next request.
func (c *cluster) write(ctx context.Context, f func(server) error) error {
	w, err := c.currentWriter(ctx)
	if err != nil {
		return err
	}
	err = c.onWriter(ctx, w, f)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if !errors.Is(err, errReadOnly) {
		c.kick()
		return err
	}
	// Only a check begun after the refusal tells who took over.
	c.recheck(ctx, c.checksBegun())
	next, _, problem := c.current()
	switch next {
	case nil:
		return fmt.Errorf("%w: %s", errNoWriter, problem)
	case w:
		return err
	}
	return c.onWriter(ctx, next, f)
}

func (c *cluster) onWriter(ctx context.Context, w server, f func(server) error) error {
	c.mu.Lock()
	ready := c.schemaOn == w
	c.mu.Unlock()
	if !ready {
		if err := w.EnsureSchema(ctx); err != nil {
			return fmt.Errorf("%s: %w", w.Addr(), err)
		}
		c.mu.Lock()
		c.schemaOn = w
		c.mu.Unlock()
	}
	if err := f(w); err != nil {
		return fmt.Errorf("%s: %w", w.Addr(), err)
	}
	return nil
}

// reader is a server to read from where a replica's lag does not matter:
// a read-only server that answered the last check, else the writer.
func (c *cluster) reader(ctx context.Context) (server, error) {
	_, readers, _ := c.current()
	if len(readers) > 0 {
		return readers[0], nil
	}
	return c.currentWriter(ctx)
}
