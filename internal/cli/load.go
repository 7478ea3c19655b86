package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module/builtin"
	"github.com/skiffdeploy/skiff/internal/pki"
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

// load decodes the inventory and the playbook, resolves secrets and -e,
// and validates every task offline. Errors are printed as diagnostics.
func (g *globals) load(playbook string) (*loaded, error) {
	return g.loadThen(playbook, nil)
}

// loadToRun is load for a run: the hosts' connections open while the
// tasks are validated (engine.DialAhead), and close if validation fails.
func (g *globals) loadToRun(ctx context.Context, playbook string) (*loaded, error) {
	return g.loadThen(playbook, func(e *engine.Engine) {
		e.Dial = g.dialer()
		e.DialAhead(ctx)
	})
}

// loadThen is load, calling beforeValidate (when not nil) on the engine
// before the tasks are validated.
func (g *globals) loadThen(playbook string, beforeValidate func(*engine.Engine)) (*loaded, error) {
	if err := g.checkOutput(); err != nil {
		return nil, err
	}
	l := config.NewLoader()
	ld, err := g.loadInventory(l)
	if err != nil {
		return nil, err
	}
	reg := builtin.Registry()
	kinds := map[string]bool{}
	for k := range reg {
		kinds[k] = true
	}
	book, diags := l.LoadPlaybook(playbook, g.rolesPath, kinds)
	secrets, sd := ld.invCfg.ResolveSecrets()
	diags = append(diags, sd...)
	if g.printDiags(l, config.RedactDiagnostics(diags, secrets)) {
		return nil, exitError{1}
	}
	extra, err := parseExtra(g.extra)
	if err != nil {
		return nil, err
	}
	// A -e value nothing reads is a mistake (a misspelt name): refused
	// here, before any host is dialled.
	if g.printDiags(l, config.CheckExtraVars(sortedNames(extra), ld.invCfg, book)) {
		return nil, exitError{1}
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
	// The sha256 of large local files (the app binary) is kept across
	// runs in the user's cache, where the machine offers one.
	if dir, err := os.UserCacheDir(); err == nil {
		ld.engine.Scope.KeepDigests(filepath.Join(dir, "skiff", "digests"))
	}
	// Each host's facts are kept beside the inventory, for the next
	// apply to send its probes with the lock.
	ld.engine.FactsDir = filepath.Join(ld.invCfg.Dir, ".skiff", "facts")
	if beforeValidate != nil {
		beforeValidate(ld.engine)
	}
	if g.printDiags(l, config.RedactDiagnostics(ld.engine.Validate(), secrets)) {
		ld.engine.Abandon()
		return nil, exitError{1}
	}
	return ld, nil
}

// sortedNames returns the names of vars, sorted.
func sortedNames(vars map[string]cty.Value) []string {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// parseExtra turns -e key=value flags into variables (strings; HCL converts
// them where a number or bool is needed).
func parseExtra(kvs []string) (map[string]cty.Value, error) {
	out := map[string]cty.Value{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || !hclsyntax.ValidIdentifier(k) {
			return nil, fmt.Errorf("-e %q: write key=value, with key a variable name", kv)
		}
		out[k] = cty.StringVal(v)
	}
	return out, nil
}
