// Package engine runs playbooks: plays in order; in a play, hosts in
// parallel (bounded by forks, in serial batches), tasks in order on each
// host, handlers once at the end of the play where notified. Engine.Plan
// reads and Engine.Apply also changes: only Apply holds the means to
// change a host (Changes), and run.go lists the steps of each.
package engine

import (
	"context"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Dialer opens the connection to a host.
type Dialer func(ctx context.Context, h *inventory.Host) (transport.Transport, error)

// Engine runs one playbook against an inventory.
type Engine struct {
	Inventory *inventory.Inventory
	Playbook  *config.Playbook
	Registry  module.Registry
	// Serves holds the system checks of the kinds that have one
	// (module.Kinds.Serves): a host whose plays use a kind its system
	// cannot serve fails as its facts are read, before any change.
	Serves map[string]func(module.System) error
	// SpansHosts holds the kinds that act on other hosts than their own
	// (module.Kinds.SpansHosts): a play using one never runs beside
	// another (see schedule).
	SpansHosts map[string]bool
	Scope      *Scope
	// Hosts limits the run (--limit); nil means every host.
	Hosts []*inventory.Host
	// Tags selects the tasks the run runs (--tags, --skip-tags); the
	// zero value selects them all.
	Tags     config.TagFilter
	Forks    int // hosts worked on at once; 0 means defaultForks
	Dial     Dialer
	Observer Observer
	RunID    string

	// FactsDir, when set, keeps each host's facts between runs: the next
	// apply binds the tasks with them while connecting and sends their
	// probes with the lock (see speculate.go).
	FactsDir string
	// HelperPath, when set, is where the hosts that have skiff's probe
	// helper keep it (hostprobe.Binary.RemotePath): it answers their
	// probes. "" probes with sh alone. Apply copies it (Changes.Helper).
	HelperPath string
	// ProbeCPU asks the probe helper to account its CPU time per part of
	// its work on its stderr (wire.ProbeBatch.CPU), which -vv shows: a
	// measurement switch that changes no answer.
	ProbeCPU bool
	// ContentKey, when set, makes the run record on every change that
	// writes content (module.ContentWriter) where it comes from and its
	// digest under this key (plan.Change.Content): a saved plan pins it.
	ContentKey plan.ContentKey
	// Warn, when set, tells the user of what went wrong without failing
	// the run (a helper that could not be installed).
	Warn func(format string, args ...any)
	// HostRuns is where the hosts keep runs' journals and backups; ""
	// means HostRunsDir.
	HostRuns string
	// InstancesDir, when set, is where apply keeps, per host, the
	// instances of tasks with for_each that skiff manages there, so that
	// a later run lists those that left their for_each (instances.go).
	InstancesDir string

	// What one run (Plan or Apply) keeps while it lasts.
	told   Observer // Observer, scrubbed of the run's secrets
	pool   connPool
	probes probeCache
	// hostSlots holds one token per host being worked on, across the
	// plays running at once: --forks bounds the run, not each play.
	hostSlots chan struct{}
	helpers   sync.Map // host name -> the helper's path on it, where present
	// selected holds, per play, the names of the hosts its pattern
	// selects: every host of a run asks, so it is computed once.
	selected sync.Map // *config.Play -> map[string]bool
	limited  sync.Once
	limit    map[string]bool // the names in Hosts; nil: every host
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
	// managed are the instances skiff manages on the host (instances.go);
	// nil until the run's first play there reads them.
	managed managed
}

// NewRunID returns a sortable, unique run id: 20261126T120102-1a2b3c.
func NewRunID() string {
	return time.Now().UTC().Format("20060102T150405") + "-" + token()[:6]
}
