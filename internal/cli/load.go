package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module/builtin"
	"github.com/skiffdeploy/skiff/internal/pki"
)

// loaded is everything a command needs before it reaches a host.
type loaded struct {
	loader *config.Loader
	inv    *inventory.Inventory
	invCfg *config.Inventory
	book   *config.Playbook
	limit  []*inventory.Host // --limit's hosts; nil without it (hosts)
	engine *engine.Engine
}

// hosts are the hosts a command works on: --limit's, else every host.
func (ld *loaded) hosts() []*inventory.Host {
	if ld.limit != nil {
		return ld.limit
	}
	return ld.inv.Hosts
}

// loadInventory decodes the inventory at path and applies limit.
func loadInventory(c *console, l *config.Loader, path, limit string) (*loaded, error) {
	if path == "" {
		return nil, fmt.Errorf("no inventory: pass -i FILE (skiff has no default inventory, so nothing reaches production by accident)")
	}
	cfg, diags := l.LoadInventory(path)
	if c.printDiags(l, diags) {
		return nil, exitError{1}
	}
	inv := inventory.New(cfg)
	ld := &loaded{loader: l, inv: inv, invCfg: cfg}
	if limit != "" {
		hosts, err := inv.Select(limit)
		if err != nil {
			return nil, fmt.Errorf("--limit: %w", err)
		}
		if len(hosts) == 0 {
			return nil, fmt.Errorf("--limit %q selects no host", limit)
		}
		ld.limit = hosts
	}
	return ld, nil
}

// loadHosts loads the inventory of o, with its --limit applied.
func loadHosts(c *console, o hostOptions) (*loaded, error) {
	return loadInventory(c, config.NewLoader(), o.inventory, o.limit)
}

// load decodes the inventory and the playbook, resolves -e and the secrets
// the playbook's plays use, and validates every task offline; the engine
// reaches hosts through r. Errors are printed as diagnostics.
func load(c *console, o playbookOptions, r *reach) (*loaded, error) {
	return loadThen(c, o, r, nil)
}

// loadOffline is load without reading any secret or reaching any host:
// validate checks that secrets are declared and well formed, so a lint
// step needs none of them.
func loadOffline(c *console, o playbookOptions) (*loaded, error) {
	return loadThen(c, o, nil, nil)
}

// loadToRun is load for a run: the hosts' connections open while the
// tasks are validated (engine.DialAhead), and close if validation fails.
func loadToRun(ctx context.Context, c *console, o playbookOptions, r *reach) (*loaded, error) {
	return loadThen(c, o, r, func(e *engine.Engine) { e.DialAhead(ctx) })
}

// loadThen is load; with r nil it reads no secret and the engine reaches
// no host. It calls beforeValidate (when not nil) on the engine before the
// tasks are validated.
func loadThen(c *console, o playbookOptions, r *reach, beforeValidate func(*engine.Engine)) (*loaded, error) {
	l := config.NewLoader()
	ld, err := loadInventory(c, l, o.inventory, o.limit)
	if err != nil {
		return nil, err
	}
	reg := builtin.WithStateDir(builtin.Registry(), filepath.Join(ld.invCfg.Dir, ".skiff"))
	kinds := map[string]bool{}
	for k := range reg {
		kinds[k] = true
	}
	book, diags := l.LoadPlaybook(o.playbook, o.rolesPath, kinds)
	if c.printDiags(l, diags) {
		return nil, exitError{1}
	}
	if err := book.CheckTags(o.tags); err != nil {
		return nil, err
	}
	secrets := map[string]string{}
	if r != nil {
		var sd hcl.Diagnostics
		secrets, sd = ld.invCfg.ResolveSecrets(ld.secretsUsed(book))
		if c.printDiags(l, config.RedactDiagnostics(sd, secrets)) {
			return nil, exitError{1}
		}
	}
	vars, err := extraVars(c, l, o)
	if err != nil {
		return nil, err
	}
	// A -e value nothing reads is a mistake (a misspelt name): refused
	// here, before any host is dialled; in a var file, a warning.
	if c.printDiags(l, config.CheckExtraVars(vars, ld.invCfg, book)) {
		return nil, exitError{1}
	}
	extra := map[string]cty.Value{}
	for _, v := range vars {
		extra[v.Name] = v.Value
	}
	ld.book = book
	ld.engine = &engine.Engine{
		Inventory:  ld.inv,
		Playbook:   book,
		Registry:   reg,
		Serves:     builtin.Kinds().Serves(),
		SpansHosts: builtin.Kinds().SpansHosts(),
		Scope:      engine.NewScope(ld.inv, secrets, extra, pki.Functions(pki.Lazy(filepath.Join(ld.invCfg.Dir, ".skiff", "pki")))),
		Hosts:      ld.limit,
		Tags:       o.tags,
		Forks:      o.forks,
		RunID:      engine.NewRunID(),
	}
	declared := make([]string, len(ld.invCfg.Secrets))
	for i, sec := range ld.invCfg.Secrets {
		declared[i] = sec.Name
	}
	ld.engine.Scope.LeaveUnread(declared)
	// The sha256 of large local files (the app binary) is kept across
	// runs in the user's cache, where the machine offers one.
	if dir, err := os.UserCacheDir(); err == nil {
		ld.engine.Scope.KeepDigests(filepath.Join(dir, "skiff", "digests"))
	}
	// Each host's facts are kept beside the inventory, for the next
	// apply to send its probes with the lock.
	ld.engine.FactsDir = filepath.Join(ld.invCfg.Dir, ".skiff", "facts")
	// The instances of tasks with for_each that apply manages on each
	// host, for a later run to list those no longer declared.
	ld.engine.InstancesDir = filepath.Join(ld.invCfg.Dir, ".skiff", "instances")
	if r != nil {
		if r.trace != nil {
			r.trace.SetScrub(ld.engine.Scope.Scrub)
		}
		ld.engine.Dial = r.dialer()
		ld.engine.Warn = c.warnf
	}
	if beforeValidate != nil {
		beforeValidate(ld.engine)
	}
	if c.printDiags(l, config.RedactDiagnostics(ld.engine.Validate(), secrets)) {
		ld.engine.Abandon()
		return nil, exitError{1}
	}
	return ld, nil
}

// secretsUsed maps each secret that a play of the run reads (a play whose
// hosts meet --limit) to the first task that reads it; nil (every secret)
// when one reads secret without naming it.
func (ld *loaded) secretsUsed(book *config.Playbook) map[string]string {
	need := map[string]string{}
	for _, p := range book.Plays {
		hosts, err := ld.inv.Select(p.Hosts)
		if err == nil {
			hosts = inventory.Intersect(hosts, ld.hosts())
		}
		if err == nil && len(hosts) == 0 {
			continue // the play runs nowhere (its unknown hosts are reported by validation)
		}
		for _, rn := range p.Roles {
			r := book.Roles[rn]
			if r == nil {
				continue
			}
			for name, who := range r.SecretUse() {
				if name == config.AnySecret {
					return nil
				}
				if _, ok := need[name]; !ok {
					need[name] = who
				}
			}
		}
	}
	return need
}

// extraVars reads the --var-file files, in order, then -e: a later value
// of a name wins.
func extraVars(c *console, l *config.Loader, o playbookOptions) ([]config.ExtraVar, error) {
	var vars []config.ExtraVar
	for _, path := range o.varFiles {
		fv, diags := l.LoadVarFile(path)
		if c.printDiags(l, diags) {
			return nil, exitError{1}
		}
		vars = append(vars, fv...)
	}
	for _, kv := range o.extra {
		v, err := config.ParseExtraVar(kv)
		if err != nil {
			return nil, err
		}
		vars = append(vars, v)
	}
	return vars, nil
}
