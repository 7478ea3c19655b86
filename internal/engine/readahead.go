package engine

import (
	"sync"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module"
)

// A host's first probe round trip also reads the state every later play of
// the run will check on it (read-ahead), so that a run that changes nothing
// costs one probe round trip per host, not one per play.
//
// A result read ahead is reused only while the run has applied no change on
// any host since it was read: every Apply moves the generation on, and the
// later plays then probe afresh, as they would without read-ahead. A probe
// is reused only for the very same fragment on the same host, so a task
// bound differently than foreseen simply misses. Volatile kinds (health
// checks, load-balancer state) are never read ahead.
type probeCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[probeKey]cachedProbe
}

type probeKey struct{ host, fragment string }

type cachedProbe struct {
	gen uint64
	out module.Probed
}

// generation is the number of changes applied so far in the run.
func (c *probeCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// changed records that a change is about to be applied: every result read
// until now is stale.
func (c *probeCache) changed() {
	c.mu.Lock()
	c.gen++
	c.m = nil
	c.mu.Unlock()
}

// get returns the result of fragment on host, if it is still current.
func (c *probeCache) get(host, fragment string) (module.Probed, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[probeKey{host, fragment}]
	if !ok || e.gen != c.gen {
		return module.Probed{}, false
	}
	return e.out, true
}

// put keeps a result read at generation gen (taken before the probe was
// sent); a result that a change may have overtaken is dropped.
func (c *probeCache) put(host, fragment string, gen uint64, out module.Probed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil {
		c.m = map[probeKey]cachedProbe{}
	}
	c.m[probeKey{host, fragment}] = cachedProbe{gen, out}
}

// cacheable reports whether a module's probe may be read ahead and reused.
func cacheable(m module.Module) bool {
	v, ok := m.(module.Volatile)
	return !ok || !v.Volatile()
}

// readAhead returns the probes of the tasks that the plays after p (every
// play when p is nil) will run on hr's own host (not delegated ones), each
// once, as bound with facts. Tasks that cannot be bound now are left out:
// their play reports them. The bound tasks are kept in hr for their plays
// (takeBound).
func (e *Engine) readAhead(p *config.Play, hr *hostRun, facts cty.Value) []probeItem {
	after := p == nil
	seen := map[string]bool{}
	hr.bound, hr.boundFacts = map[playTask]boundTask{}, facts
	var out []probeItem
	for _, later := range e.Playbook.Plays {
		if later == p {
			after = true
			continue
		}
		if !after || !e.inRun(later, hr.host) {
			continue
		}
		for _, rn := range later.Roles {
			role := e.Playbook.Roles[rn]
			evalCtx := e.Scope.Context(hr.host, role, later, facts)
			if role.CheckVariables(evalCtx).HasErrors() {
				continue // its play reports it, before any probe
			}
			for _, t := range e.tasksOf(later, role) {
				if t.DelegateTo != nil {
					continue
				}
				bs, keys, diags := bindInstances(e.Registry, t, role, evalCtx, e.Scope.files)
				if diags.HasErrors() {
					continue
				}
				hr.bound[playTask{later, t}] = boundTask{bs, keys}
				for _, b := range bs {
					if !cacheable(b.Module) {
						continue
					}
					if it := itemOf(b); it.fragment != "" && !seen[it.fragment] {
						seen[it.fragment] = true
						out = append(out, it)
					}
				}
			}
		}
	}
	return out
}

// inRun reports whether play p runs on host h in this run (its hosts,
// within --limit).
func (e *Engine) inRun(p *config.Play, h *inventory.Host) bool {
	e.limited.Do(func() {
		if e.Hosts != nil {
			e.limit = map[string]bool{}
			for _, x := range e.Hosts {
				e.limit[x.Name] = true
			}
		}
	})
	if e.limit != nil && !e.limit[h.Name] {
		return false
	}
	return e.playHosts(p)[h.Name]
}

// playHosts is the set of the names of the hosts p's pattern selects (none
// when it selects nothing the inventory has).
func (e *Engine) playHosts(p *config.Play) map[string]bool {
	if v, ok := e.selected.Load(p); ok {
		return v.(map[string]bool)
	}
	set := map[string]bool{}
	if sel, err := e.Inventory.Select(p.Hosts); err == nil {
		for _, x := range sel {
			set[x.Name] = true
		}
	}
	v, _ := e.selected.LoadOrStore(p, set)
	return v.(map[string]bool)
}
