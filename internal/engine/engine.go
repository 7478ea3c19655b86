// Package engine runs playbooks: plays in order; in a play, hosts in
// parallel (bounded by forks, in serial batches), tasks in order on each
// host, handlers once at the end of the play where notified. The same code
// plans (reads only) and applies; a plan never calls Module.Apply.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Mode says whether a run only reads (Plan) or also changes hosts (Apply).
type Mode string

const (
	Plan  Mode = "plan"
	Apply Mode = "apply"
)

// Dialer opens the connection to a host.
type Dialer func(ctx context.Context, h *inventory.Host) (transport.Transport, error)

// Engine runs one playbook against an inventory.
type Engine struct {
	Inventory *inventory.Inventory
	Playbook  *config.Playbook
	Registry  module.Registry
	Scope     *Scope
	// Hosts limits the run (--limit); nil means every host.
	Hosts    []*inventory.Host
	Forks    int // hosts worked on at once; 0 means defaultForks
	Dial     Dialer
	Observer Observer
	RunID    string

	// Journal records every applied change and how to undo it (Apply mode);
	// nil records nothing and disables rollback.
	Journal *journal.Writer
	// Rollback undoes a host's changes of the failing play when a task fails
	// (or the run is interrupted) on it.
	Rollback bool
	// Prepare, when set, is called for every host the run will touch, once
	// connected and before any play (the deploy lock). Any error aborts the
	// run before anything changes.
	Prepare func(ctx context.Context, h *inventory.Host, t transport.Transport) error
	// Finish, when set, runs at the end of the run while the connections are
	// still open (releasing the deploy locks).
	Finish func()
	// Locks, when set, are the deploy locks Prepare took: no change is made
	// on a host whose lock the run does not hold, and a lost lock stops the
	// run (see locks.go).
	Locks Locks
	// RevertAll: when a play stops on max_fail, also undo its changes on
	// the hosts that had completed it (a rollout reverted everywhere).
	RevertAll bool

	// Peek, when set, makes locking lazy (see lazylock.go): it is called
	// instead of Prepare for every host the run will touch, and must only
	// check that no other run holds the host (the lock's status); Prepare
	// then runs on all of them before the run's first change. An apply that
	// changes nothing takes no lock.
	Peek func(ctx context.Context, h *inventory.Host, t transport.Transport) error
	// FactsDir, when set, keeps each host's facts between runs: the next
	// apply binds the tasks with them while connecting and sends their
	// probes with the lock (see speculate.go).
	FactsDir string
	// Helper, when set, is copied to the hosts that can run it by the
	// first apply that finds it missing, and then answers their probes
	// (package hostprobe). Nil probes with sh alone.
	Helper *hostprobe.Binary
	// ContentKey, when set, makes the run record on every change that
	// writes content (module.ContentWriter) where it comes from and its
	// digest under this key (plan.Change.Content): a saved plan pins it.
	ContentKey plan.ContentKey
	// Pinned, when set, holds the content a saved plan writes (with
	// digests under ContentKey): applying, a task that would write other
	// content, or content where the plan wrote none, fails instead.
	Pinned plan.Contents
	// Warn, when set, tells the user of what went wrong without failing
	// the run (a helper that could not be installed).
	Warn func(format string, args ...any)
	// HostRuns is where the hosts keep runs' journals and backups; ""
	// means HostRunsDir.
	HostRuns string

	pool    connPool
	probes  probeCache
	lazy    lazyLock
	helpers sync.Map // host name -> the helper's path on it, where present

	// pruned holds host name -> true once the run pruned the host's older runs.
	pruned *sync.Map
}

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
	forks := e.Forks
	if forks <= 0 {
		forks = defaultForks
	}
	ctx, cancel := context.WithCancel(ctx)
	e.pool.mu.Lock()
	e.pool.cancelAhead = append(e.pool.cancelAhead, cancel)
	e.pool.mu.Unlock()
	e.pool.ahead.Add(1)
	go func() {
		defer e.pool.ahead.Done()
		Parallel(len(hosts), forks, func(i int) { e.conn(ctx, hosts[i]) })
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

// hostRun is one host's state across the plays of a run.
type hostRun struct {
	host  *inventory.Host
	conn  transport.Transport
	facts cty.Value
	out   *plan.Host
	done  bool // failed or unreachable: no further plays
	// played are the journal entries of the current play, for rollback.
	played []journal.Entry
	// readAhead is set once the host's later plays were read ahead; ahead
	// holds their probes until the next check sends them.
	readAhead bool
	ahead     []probeItem
	// bound holds the tasks readAhead bound, with the facts it bound them
	// with: a play whose facts are the same takes them instead of binding
	// its tasks again (see takeBound).
	bound      map[playTask]boundTask
	boundFacts cty.Value
}

type playTask struct {
	play *config.Play
	task *config.Task
}

// boundTask is a task as Bind left it: a module, or skip (when is false).
type boundTask struct {
	b    *Bound
	skip bool
}

// takeBound returns, once, the task t of play p as readAhead bound it,
// when it bound it with the host's facts: binding is a function of the
// task, the host, the play and the facts, so binding again would build the
// same module (its Probe and NativeProbe are all readAhead called).
func (hr *hostRun) takeBound(p *config.Play, t *config.Task) (boundTask, bool) {
	k := playTask{p, t}
	bt, ok := hr.bound[k]
	if !ok || !hr.boundFacts.RawEquals(hr.facts) {
		return boundTask{}, false
	}
	delete(hr.bound, k)
	return bt, true
}

// Run executes the playbook in mode and returns what was found or done.
// Connections are opened once per host and closed at the end. The run's
// secrets are scrubbed from every error, summary and diff it returns, and
// from what the Observer is told.
func (e *Engine) Run(ctx context.Context, mode Mode) *plan.Plan {
	if e.Observer == nil {
		e.Observer = nopObserver{}
	}
	told := e.Observer
	e.Observer = scrubbedObserver{told, e.Scope.Scrub}
	defer func() { e.Observer = told }()
	result := e.run(ctx, mode)
	result.Scrub(e.Scope.Scrub)
	return result
}

func (e *Engine) run(ctx context.Context, mode Mode) *plan.Plan {
	if e.Forks <= 0 {
		e.Forks = defaultForks
	}
	result := &plan.Plan{RunID: e.RunID, Mode: string(mode)}
	e.probes = probeCache{}
	e.lazy = lazyLock{}
	e.pruned = &sync.Map{}
	runs := map[string]*hostRun{}
	limit := e.runHosts()
	for _, h := range limit {
		hr := &hostRun{host: h, out: &plan.Host{Name: h.Name, Address: h.Address}}
		runs[h.Name] = hr
		result.Hosts = append(result.Hosts, hr.out)
	}
	defer func() {
		if e.Finish != nil {
			e.Finish()
		}
		e.Abandon()
	}()

	switch {
	case e.Prepare != nil:
		if !e.prepare(ctx, runs, limit, mode) {
			result.Finish()
			return result
		}
	case mode == Plan && e.FactsDir != "":
		// A plan takes no lock, but with kept facts it reads like apply:
		// facts and every play's probes in one session per host.
		e.prepare(ctx, runs, limit, mode)
	}

	for _, p := range e.Playbook.Plays {
		selected, err := e.Inventory.Select(p.Hosts)
		if err != nil { // validated before a run; kept for safety
			for _, hr := range runs {
				hr.out.Error = fmt.Sprintf("play %q: %v", p.Name, err)
			}
			break
		}
		var hosts []*hostRun
		var names []string
		for _, h := range inventory.Intersect(selected, limit) {
			if hr := runs[h.Name]; !hr.done {
				hosts = append(hosts, hr)
				names = append(names, h.Name)
			}
		}
		if len(hosts) == 0 {
			continue
		}
		e.Observer.PlayStarted(p.Name, names)
		stop := e.runPlay(ctx, mode, p, hosts)
		if e.lockRefused(runs) || stop {
			break
		}
		if ctx.Err() != nil || e.lockLost() != nil {
			break
		}
	}
	result.Finish()
	return result
}

// runPlay runs one play on its hosts in serial batches; it returns true when
// the play's max_fail was exceeded and the run must stop.
func (e *Engine) runPlay(ctx context.Context, mode Mode, p *config.Play, hosts []*hostRun) bool {
	failed := 0
	for start, batch := 0, 0; start < len(hosts); batch++ {
		size := len(hosts)
		if len(p.Serial) > 0 {
			size = p.Serial[min(batch, len(p.Serial)-1)]
		}
		end := min(start+size, len(hosts))
		var mu sync.Mutex
		batchHosts := hosts[start:end]
		Parallel(len(batchHosts), e.Forks, func(i int) {
			if !e.runHost(ctx, mode, p, batchHosts[i]) {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
		if p.MaxFail >= 0 && failed > p.MaxFail {
			if e.RevertAll && mode == Apply && e.Rollback {
				for _, hr := range hosts[:end] {
					if !hr.done && len(hr.played) > 0 {
						hr.out.Error = fmt.Sprintf("reverted (--revert-all): play %q stopped after %d failed host(s); %s", p.Name, failed, e.rollbackPlay(ctx, hr))
						hr.out.Status = plan.StatusFailed
						hr.done = true
					}
				}
			}
			for _, hr := range hosts[end:] {
				if hr.out.Error == "" {
					hr.out.Error = fmt.Sprintf("not run: play %q stopped after %d failed host(s) (max_fail = %d)", p.Name, failed, p.MaxFail)
					hr.out.Status = plan.StatusFailed
					hr.done = true
				}
			}
			return true
		}
		if ctx.Err() != nil || e.lockLost() != nil {
			return true
		}
		start = end
	}
	return false
}

// connect opens the host's connection and reads its facts, once per run.
func (e *Engine) connect(ctx context.Context, hr *hostRun) error {
	if hr.conn != nil {
		return nil
	}
	conn, err := e.conn(ctx, hr.host)
	if err != nil {
		return err
	}
	facts, err := e.gatherFacts(ctx, hr.host.Name, conn)
	if err != nil {
		return err
	}
	hr.conn, hr.facts = conn, facts
	return nil
}

// runHost runs play p on one host; false when the host failed.
func (e *Engine) runHost(ctx context.Context, mode Mode, p *config.Play, hr *hostRun) bool {
	name := hr.host.Name
	hr.played = nil
	fail := func(err error) bool {
		hr.done = true
		status := StatusOf(err)
		hr.out.Status = status
		hr.out.Error = err.Error()
		if mode == Apply && e.Rollback && len(hr.played) > 0 {
			hr.out.Error += "; " + e.rollbackPlay(ctx, hr)
		}
		e.Observer.HostDone(name, p.Name, status, hr.out.Error)
		return false
	}
	if err := e.connect(ctx, hr); err != nil {
		return fail(err)
	}
	var tasks []*Bound
	for _, rn := range p.Roles {
		role := e.Playbook.Roles[rn]
		evalCtx := e.Scope.Context(hr.host, role, p, hr.facts)
		if d := role.CheckVariables(evalCtx); d.HasErrors() {
			return fail(fmt.Errorf("%s/%s: %s", p.Name, rn, diagText(d)))
		}
		for _, t := range role.Tasks {
			if bt, ok := hr.takeBound(p, t); ok {
				if !bt.skip {
					tasks = append(tasks, bt.b)
				}
				continue
			}
			bound, err := e.bindFor(ctx, t, role, evalCtx)
			if err != nil {
				return fail(fmt.Errorf("%s/%s %s: %w", p.Name, rn, t.ID(), err))
			}
			tasks = append(tasks, bound...)
		}
	}
	if !hr.readAhead {
		hr.readAhead = true
		hr.ahead = e.readAhead(p, hr, hr.facts)
	}
	e.Observer.HostTasks(name, len(tasks))
	changedBefore := len(hr.out.Changes)
	notified, err := e.converge(ctx, mode, p, hr, tasks, nil)
	if err != nil {
		return fail(err)
	}
	if err := e.flushHandlers(ctx, mode, p, hr, notified); err != nil {
		return fail(err)
	}
	status := plan.StatusOK
	if len(hr.out.Changes) > changedBefore {
		status = plan.StatusChanged
	}
	e.Observer.HostDone(name, p.Name, status, "")
	return true
}

// converge checks tasks in one batched probe and, in Apply mode, applies
// the changes in order. After a change, the remaining tasks are probed
// again (one round trip), since the change may affect them. It returns the
// handlers notified by changed tasks, in declaration order, each once.
// more, when set, is called after each change with the tasks still to
// run, and returns them with any it adds (handlers that the changed
// handler notifies: see flushHandlers).
func (e *Engine) converge(ctx context.Context, mode Mode, p *config.Play, hr *hostRun, tasks []*Bound, more func(changed *Bound, rest []*Bound) ([]*Bound, error)) ([]handlerRef, error) {
	name := hr.host.Name
	notifiedSet := map[handlerRef]bool{}
	var notified []handlerRef
	var changes []*module.Change
	var forced map[*Bound]string // gated tasks that run, and why
	stale := true
	for i := 0; i < len(tasks); i++ {
		if stale {
			held := e.locksHeld()
			var err error
			changes, err = e.check(ctx, hr, tasks[i:])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Name, err)
			}
			stale = false
			if forced == nil {
				forced = e.gate(p, tasks, changes)
			}
			// The first change of a lazily locked run (only ever at the
			// play's first check: later checks follow a change) takes the
			// locks, then reads again under them.
			if mode == Apply && !held && i == 0 && wantsChange(tasks, changes, forced) {
				if err := e.lockAll(ctx, name); err != nil {
					return nil, err
				}
				if changes, err = e.check(ctx, hr, tasks); err != nil {
					return nil, fmt.Errorf("%s: %w", p.Name, err)
				}
				forced = e.gate(p, tasks, changes)
			}
		}
		b, c := tasks[i], changes[0]
		changes = changes[1:]
		if len(b.Task.IfChanged) > 0 {
			why, run := forced[b]
			if !run {
				e.Observer.TaskDone(name, p.Name, b.Task.ID(), "skipped", "")
				continue
			}
			if c == nil {
				c = &module.Change{Action: plan.Run, Summary: b.Task.ID() + " (" + why + ")"}
			}
		}
		hr.out.Tasks++
		if c == nil {
			e.Observer.TaskDone(name, p.Name, b.Task.ID(), "ok", "")
			continue
		}
		if b.Target != nil {
			c.Summary = "on " + b.Target.Name + ": " + c.Summary
		}
		taskID := b.Task.ID()
		if b.Role.Handler(b.Task.Name) == b.Task {
			taskID = "handler." + b.Task.Name
		}
		change := plan.Change{
			Play: p.Name, Role: b.Role.Name, Task: taskID,
			Action: c.Action, Summary: c.Summary, Diff: c.Diff, Sensitive: c.Sensitive,
			Content: e.content(b.Module),
		}
		if mode == Apply {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("interrupted before %s/%s %s", p.Name, b.Role.Name, b.Task.ID())
			}
			if err := e.lockLost(); err != nil {
				return nil, fmt.Errorf("stopped before %s/%s %s: %w", p.Name, b.Role.Name, b.Task.ID(), err)
			}
			if err := e.checkPinned(name, change); err != nil {
				e.Observer.TaskDone(name, p.Name, taskID, "failed", err.Error())
				return nil, fmt.Errorf("%s/%s %s: %w", p.Name, b.Role.Name, b.Task.ID(), err)
			}
			if err := e.record(ctx, hr, p, b, c); err != nil {
				return nil, fmt.Errorf("%s/%s %s: %w", p.Name, b.Role.Name, b.Task.ID(), err)
			}
			// A task under way finishes even when the run is interrupted:
			// stopping it half-way could leave the host half-changed.
			conn, err := e.targetConn(ctx, hr, b)
			if err != nil {
				return nil, fmt.Errorf("%s/%s %s: %w", p.Name, b.Role.Name, b.Task.ID(), err)
			}
			e.probes.changed()
			if err := b.Module.Apply(module.WithHostConns(context.WithoutCancel(ctx), e.runConn), conn); err != nil {
				e.Observer.TaskDone(name, p.Name, b.Task.ID(), "failed", err.Error())
				return nil, fmt.Errorf("%s/%s %s: %w", p.Name, b.Role.Name, b.Task.ID(), err)
			}
			stale = true
		}
		hr.out.Changes = append(hr.out.Changes, change)
		e.Observer.TaskDone(name, p.Name, taskID, "changed", c.Summary)
		if more != nil {
			rest, err := more(b, tasks[i+1:])
			if err != nil {
				return nil, err
			}
			if added := len(rest) - (len(tasks) - i - 1); added > 0 {
				e.Observer.HostTasks(name, added)
				tasks = append(tasks[:i+1:i+1], rest...)
				stale = true // the added ones are probed with the rest
			}
		}
		for _, n := range b.Task.Notify {
			ref := handlerRef{b.Role.Name, n}
			if !notifiedSet[ref] {
				notifiedSet[ref] = true
				notified = append(notified, ref)
			}
		}
	}
	// Handlers run in the order the role declares them.
	var ordered []handlerRef
	for _, rn := range p.Roles {
		for _, h := range e.Playbook.Roles[rn].Handlers {
			if notifiedSet[handlerRef{rn, h.Name}] {
				ordered = append(ordered, handlerRef{rn, h.Name})
			}
		}
	}
	return ordered, nil
}

// content is what m's change writes, keyed with ContentKey; nil when the
// run records no content or m writes none.
func (e *Engine) content(m module.Module) *plan.Content {
	w, ok := m.(module.ContentWriter)
	if e.ContentKey == nil || !ok {
		return nil
	}
	data, source, ok := w.Written()
	if !ok {
		return nil
	}
	return &plan.Content{Source: source, Digest: e.ContentKey.Digest(module.SHA256(data))}
}

// checkPinned refuses a change that writes content the saved plan did not
// (Pinned), just before it is applied: the content is that of this very
// module, whatever changed since the plan was compared.
func (e *Engine) checkPinned(host string, c plan.Change) error {
	switch {
	case e.Pinned == nil || c.Content == nil:
		return nil
	case len(e.Pinned[host][c.Key()]) == 0:
		return fmt.Errorf("refused: it would write content from %s, which the saved plan does not write: make a new plan", c.Content.Source)
	case !e.Pinned.Has(host, c.Key(), c.Content.Digest):
		return fmt.Errorf("refused: the content from %s differs from what the saved plan saw: make a new plan", c.Content.Source)
	}
	return nil
}

// check probes tasks, one round trip per host they run on, and returns
// each one's change (nil: in state). A probe read ahead and still current
// is not sent again. The first check of a host also reads ahead the probes
// of its later plays (hr.ahead), in the same round trip.
func (e *Engine) check(ctx context.Context, hr *hostRun, tasks []*Bound) ([]*module.Change, error) {
	probed := make([]module.Probed, len(tasks))
	groups := map[*inventory.Host][]int{} // nil: the host itself
	var order []*inventory.Host
	for i, b := range tasks {
		if cacheable(b.Module) {
			if out, ok := e.probes.get(e.targetName(hr, b), b.Module.Probe()); ok {
				probed[i] = out
				continue
			}
		}
		if _, ok := groups[b.Target]; !ok {
			order = append(order, b.Target)
		}
		groups[b.Target] = append(groups[b.Target], i)
	}
	ahead := hr.ahead
	hr.ahead = nil
	if len(ahead) > 0 && groups[nil] == nil {
		order = append(order, nil)
	}
	for _, target := range order {
		idx := groups[target]
		items := make([]probeItem, len(idx))
		sending := map[string]bool{}
		for k, i := range idx {
			items[k] = itemOf(tasks[i].Module)
			sending[items[k].fragment] = true
		}
		if target == nil {
			for _, it := range ahead {
				if _, cached := e.probes.get(hr.host.Name, it.fragment); !sending[it.fragment] && !cached {
					items = append(items, it)
				}
			}
		}
		if len(items) == 0 {
			continue
		}
		var conn transport.Transport
		var err error
		if len(idx) > 0 {
			conn, err = e.targetConn(ctx, hr, tasks[idx[0]])
		} else {
			conn = hr.conn
		}
		if err != nil {
			return nil, err
		}
		host := hr.host.Name
		if target != nil {
			host = target.Name
		}
		gen := e.probes.generation()
		out, err := e.probe(ctx, host, conn, items)
		if err != nil {
			if target != nil {
				return nil, fmt.Errorf("on %s: %w", target.Name, err)
			}
			return nil, err
		}
		for k, it := range items {
			if k >= len(idx) || cacheable(tasks[idx[k]].Module) {
				e.probes.put(host, it.fragment, gen, out[k])
			}
		}
		for k, i := range idx {
			probed[i] = out[k]
		}
	}
	out := make([]*module.Change, len(tasks))
	for i, b := range tasks {
		c, err := b.Module.Check(probed[i])
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", b.Role.Name, b.Task.ID(), err)
		}
		out[i] = c
	}
	return out, nil
}

// targetName is the name of the host a bound task runs on.
func (e *Engine) targetName(hr *hostRun, b *Bound) string {
	if b.Target != nil {
		return b.Target.Name
	}
	return hr.host.Name
}

// runConn is the run's connection to the host named name, for a kind whose
// Apply reaches other hosts (module.HostConns): only a host a play of the
// run works on, which the run has locked.
func (e *Engine) runConn(ctx context.Context, name string) (transport.Transport, error) {
	if h := e.Inventory.Host(name); h != nil {
		for _, p := range e.Playbook.Plays {
			if e.inRun(p, h) {
				return e.conn(ctx, h)
			}
		}
	}
	return nil, fmt.Errorf("%s is not a host of this run", name)
}

// targetConn is the connection a bound task runs on: its delegate's, or
// the host's own.
func (e *Engine) targetConn(ctx context.Context, hr *hostRun, b *Bound) (transport.Transport, error) {
	if b.Target == nil {
		return hr.conn, nil
	}
	return e.conn(ctx, b.Target)
}

// gate decides, from the play's first check on a host, which if_changed
// tasks run: those with a referenced (ungated) task that has a change.
func (e *Engine) gate(p *config.Play, tasks []*Bound, changes []*module.Change) map[*Bound]string {
	changed := map[*config.Task]bool{}
	for i, b := range tasks {
		if changes[i] != nil && len(b.Task.IfChanged) == 0 {
			changed[b.Task] = true
		}
	}
	out := map[*Bound]string{}
	for _, b := range tasks {
		for _, ref := range b.Task.IfChanged {
			refs, _ := config.ResolveRef(e.Playbook, p, b.Role.Name, ref)
			for _, t := range refs {
				if changed[t] {
					out[b] = t.Role + "/" + t.ID() + " changes"
					break
				}
			}
			if _, ok := out[b]; ok {
				break
			}
		}
	}
	return out
}

// bindFor binds t for the host of evalCtx: once, or once per delegate.
func (e *Engine) bindFor(ctx context.Context, t *config.Task, role *config.Role, evalCtx *hcl.EvalContext) ([]*Bound, error) {
	if t.DelegateTo == nil {
		b, skip, diags := Bind(e.Registry, t, role, evalCtx, e.Scope.files)
		if diags.HasErrors() {
			return nil, errors.New(diagText(diags))
		}
		if skip {
			return nil, nil
		}
		return []*Bound{b}, nil
	}
	targets, err := e.delegates(t, evalCtx)
	if err != nil {
		return nil, err
	}
	var out []*Bound
	for _, target := range targets {
		b, skip, diags := Bind(e.Registry, t, role, evalCtx, e.Scope.files)
		if diags.HasErrors() {
			return nil, errors.New(diagText(diags))
		}
		if skip {
			return nil, nil
		}
		b.Target = target
		out = append(out, b)
	}
	return out, nil
}

// delegates evaluates a task's delegate_to into hosts.
func (e *Engine) delegates(t *config.Task, evalCtx *hcl.EvalContext) ([]*inventory.Host, error) {
	v, diags := t.DelegateTo.Value(evalCtx)
	if diags.HasErrors() {
		return nil, errors.New(diagText(diags))
	}
	v, _ = v.Unmark()
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return nil, fmt.Errorf("delegate_to must be a host selection string, such as \"lb\"")
	}
	hosts, err := e.Inventory.Select(v.AsString())
	if err != nil {
		return nil, fmt.Errorf("delegate_to: %w", err)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("delegate_to %q selects no host", v.AsString())
	}
	return hosts, nil
}

// diagText flattens diagnostics into one line for a host's error.
func diagText(diags hcl.Diagnostics) string {
	var errs []error
	for _, d := range config.Explain(diags) {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject != nil {
			r := config.Relocated(*d.Subject)
			msg = fmt.Sprintf("%s:%d:%d: %s", r.Filename, r.Start.Line, r.Start.Column, msg)
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...).Error()
}

// NewRunID returns a sortable, unique run id: 20261126T120102-1a2b3c.
func NewRunID() string {
	return time.Now().UTC().Format("20060102T150405") + "-" + token()[:6]
}
