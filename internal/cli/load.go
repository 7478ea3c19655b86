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
	"github.com/skiffdeploy/skiff/internal/transport/trace"
)

// loaded is everything a command needs before it reaches a host.
type loaded struct {
	loader  *config.Loader
	inv     *inventory.Inventory
	invCfg  *config.Inventory
	book    *config.Playbook
	limit   []*inventory.Host
	engine  *engine.Engine
	secrets map[string]string
}

// printDiags prints diagnostics with their source lines; true when any is an error.
func (g *globals) printDiags(l *config.Loader, diags hcl.Diagnostics) bool {
	if len(diags) > 0 {
		config.WriteDiagnostics(g.stderr, diags, l.Files())
		g.diags = append(g.diags, config.DiagnosticsJSON(diags, l.Files())...)
	}
	return diags.HasErrors()
}

// loadInventory decodes -i and applies --limit.
func (g *globals) loadInventory(l *config.Loader) (*loaded, error) {
	if g.inventory == "" {
		return nil, fmt.Errorf("no inventory: pass -i FILE (skiff has no default inventory, so nothing reaches production by accident)")
	}
	cfg, diags := l.LoadInventory(g.inventory)
	if g.printDiags(l, diags) {
		return nil, exitError{1}
	}
	inv := inventory.New(cfg)
	ld := &loaded{loader: l, inv: inv, invCfg: cfg}
	if g.limit != "" {
		hosts, err := inv.Select(g.limit)
		if err != nil {
			return nil, fmt.Errorf("--limit: %w", err)
		}
		if len(hosts) == 0 {
			return nil, fmt.Errorf("--limit %q selects no host", g.limit)
		}
		ld.limit = hosts
	}
	return ld, nil
}

// load decodes the inventory and the playbook, resolves -e and the secrets
// the playbook's plays use, and validates every task offline. Errors are
// printed as diagnostics.
func (g *globals) load(playbook string) (*loaded, error) {
	return g.loadThen(playbook, true, nil)
}

// loadOffline is load without reading any secret: validate checks that
// secrets are declared and well formed, so a lint step needs none of them.
func (g *globals) loadOffline(playbook string) (*loaded, error) {
	return g.loadThen(playbook, false, nil)
}

// loadToRun is load for a run: the hosts' connections open while the
// tasks are validated (engine.DialAhead), and close if validation fails.
func (g *globals) loadToRun(ctx context.Context, playbook string) (*loaded, error) {
	return g.loadThen(playbook, true, func(e *engine.Engine) {
		e.Dial = g.dialer()
		e.DialAhead(ctx)
	})
}

// loadThen is load, reading the secrets the plays use when readSecrets,
// and calling beforeValidate (when not nil) on the engine before the tasks
// are validated.
func (g *globals) loadThen(playbook string, readSecrets bool, beforeValidate func(*engine.Engine)) (*loaded, error) {
	if err := g.checkOutput(); err != nil {
		return nil, err
	}
	l := config.NewLoader()
	ld, err := g.loadInventory(l)
	if err != nil {
		return nil, err
	}
	reg := builtin.WithStateDir(builtin.Registry(), filepath.Join(ld.invCfg.Dir, ".skiff"))
	kinds := map[string]bool{}
	for k := range reg {
		kinds[k] = true
	}
	book, diags := l.LoadPlaybook(playbook, g.rolesPath, kinds)
	if g.printDiags(l, diags) {
		return nil, exitError{1}
	}
	secrets := map[string]string{}
	if readSecrets {
		var sd hcl.Diagnostics
		secrets, sd = ld.invCfg.ResolveSecrets(ld.secretsUsed(book))
		if g.printDiags(l, config.RedactDiagnostics(sd, secrets)) {
			return nil, exitError{1}
		}
	}
	vars, err := g.extraVars(l)
	if err != nil {
		return nil, err
	}
	// A -e value nothing reads is a mistake (a misspelt name): refused
	// here, before any host is dialled; in a var file, a warning.
	if g.printDiags(l, config.CheckExtraVars(vars, ld.invCfg, book)) {
		return nil, exitError{1}
	}
	extra := map[string]cty.Value{}
	for _, v := range vars {
		extra[v.Name] = v.Value
	}
	ld.book, ld.secrets = book, secrets
	ld.engine = &engine.Engine{
		Inventory: ld.inv,
		Playbook:  book,
		Registry:  reg,
		Scope:     engine.NewScope(ld.inv, secrets, extra, pki.Functions(pki.Lazy(filepath.Join(ld.invCfg.Dir, ".skiff", "pki")))),
		Hosts:     ld.limit,
		Forks:     g.forks,
		RunID:     engine.NewRunID(),
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
	if g.verbosity >= 2 {
		g.trace = trace.New(g.stderr)
		g.trace.SetScrub(ld.engine.Scope.Scrub)
	}
	if beforeValidate != nil {
		beforeValidate(ld.engine)
	}
	if g.printDiags(l, config.RedactDiagnostics(ld.engine.Validate(), secrets)) {
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
		if err == nil && ld.limit != nil {
			hosts = inventory.Intersect(hosts, ld.limit)
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
func (g *globals) extraVars(l *config.Loader) ([]config.ExtraVar, error) {
	var vars []config.ExtraVar
	for _, path := range g.varFiles {
		fv, diags := l.LoadVarFile(path)
		if g.printDiags(l, diags) {
			return nil, exitError{1}
		}
		vars = append(vars, fv...)
	}
	for _, kv := range g.extra {
		v, err := config.ParseExtraVar(kv)
		if err != nil {
			return nil, err
		}
		vars = append(vars, v)
	}
	return vars, nil
}
