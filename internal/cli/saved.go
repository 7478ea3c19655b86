package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/version"
)

// configDigest hashes every HCL file the command decoded.
func configDigest(ld *loaded) string {
	files := map[string][]byte{}
	for name, f := range ld.loader.Files() {
		if f != nil {
			abs, _ := filepath.Abs(name) // the same file, however it was named
			files[abs] = f.Bytes
		}
	}
	return plan.Digest(files)
}

// siteKeyPath is the site key that keys saved plans' content digests
// (plan.ContentKey), kept beside the inventory with its other state.
func (ld *loaded) siteKeyPath() string { return filepath.Join(ld.invCfg.Dir, ".skiff", "plan.key") }

// recordContent makes the run record the content each change writes,
// keyed for a plan to be saved; it returns the plan's nonce.
func (ld *loaded) recordContent() (string, error) {
	siteKey, err := plan.ReadSiteKey(ld.siteKeyPath(), true)
	if err != nil {
		return "", fmt.Errorf("the key of saved plans: %w", err)
	}
	nonce, err := plan.NewContentNonce()
	if err != nil {
		return "", err
	}
	ld.engine.ContentKey = plan.PlanContentKey(siteKey, nonce)
	return nonce, nil
}

// savePlan writes p with what is needed to apply exactly it later; nonce
// is recordContent's.
func (g *globals) savePlan(path, playbook, nonce string, ld *loaded, p *plan.Plan) error {
	abs := func(s string) string { a, _ := filepath.Abs(s); return a }
	extra := map[string]string{}
	for _, kv := range g.extra {
		k, v, _ := strings.Cut(kv, "=")
		extra[strings.TrimSpace(k)] = v
	}
	var roles []string
	for _, r := range g.rolesPath {
		roles = append(roles, abs(r))
	}
	return plan.WriteSaved(path, &plan.Saved{
		SkiffVersion: version.String(), Created: time.Now().UTC(), Inventory: abs(g.inventory), Playbook: abs(playbook),
		Limit: g.limit, Extra: extra, RolesPath: roles, ConfigDigest: configDigest(ld),
		ContentNonce: nonce, ContentKeyCheck: ld.engine.ContentKey.Check(), Plan: p,
	})
}

// applySaved applies a saved plan: the same inventory, playbook, limit and
// variables; a host whose fresh plan differs from the saved one, or whose
// changes would write other content than the plan saw (a local file,
// template or secret changed), is refused.
func (g *globals) applySaved(ctx context.Context, s *plan.Saved, yes, rollback bool) error {
	if g.inventory != "" && g.inventory != s.Inventory {
		return fmt.Errorf("a saved plan names its inventory (%s): leave out -i", s.Inventory)
	}
	if len(g.extra) > 0 || g.limit != "" {
		return fmt.Errorf("a saved plan carries its own -e and --limit: leave them out")
	}
	g.inventory, g.limit, g.rolesPath = s.Inventory, s.Limit, s.RolesPath
	for k, v := range s.Extra {
		g.extra = append(g.extra, k+"="+v)
	}
	ld, err := g.load(s.Playbook)
	if err != nil {
		return err
	}
	if configDigest(ld) != s.ConfigDigest {
		return fmt.Errorf("the inventory, playbook or roles changed since the plan was saved (%s): make a new plan", s.Created.Format(time.RFC3339))
	}
	siteKey, err := plan.ReadSiteKey(ld.siteKeyPath(), false)
	if err != nil {
		return fmt.Errorf("cannot check the content the plan writes without the key it was saved with: %w: make a new plan here", err)
	}
	ld.engine.ContentKey = plan.PlanContentKey(siteKey, s.ContentNonce)
	if ld.engine.ContentKey.Check() != s.ContentKeyCheck {
		return fmt.Errorf("the plan was saved with another key than %s (made anew since, or the plan comes from another machine): make a new plan here", ld.siteKeyPath())
	}
	fresh := g.run(ctx, ld, nil)
	mismatch := plan.Compare(s.Plan, fresh)
	var hosts []*inventory.Host
	for _, h := range fresh.Hosts {
		if _, bad := mismatch[h.Name]; !bad && len(h.Changes) > 0 {
			hosts = append(hosts, ld.inv.Host(h.Name))
		}
	}
	var refused []string
	for name := range mismatch {
		refused = append(refused, name)
	}
	sort.Strings(refused)
	for _, name := range refused {
		fmt.Fprintf(g.stderr, "skiff: %s: refused: it no longer matches the plan:\n", name)
		for _, m := range mismatch[name] {
			fmt.Fprintf(g.stderr, "    %s\n", m)
		}
	}
	result := &plan.Plan{RunID: ld.engine.RunID, Mode: "apply"}
	if len(hosts) > 0 {
		if !yes {
			p := *fresh
			p.Hosts = nil
			for _, h := range fresh.Hosts {
				if _, bad := mismatch[h.Name]; !bad {
					p.Hosts = append(p.Hosts, h)
				}
			}
			if proceed, err := g.confirm(&p); !proceed {
				return err
			}
		}
		ld.engine.Hosts = hosts
		ld.engine.RunID = engine.NewRunID()
		p, err := g.applyEngine(ctx, ld, s.Playbook, engine.Changes{Rollback: rollback, Pinned: s.Plan.Contents()}, refused)
		if err != nil {
			return err
		}
		result = p
	} else if len(refused) == 0 {
		fmt.Fprintln(g.stderr, "No changes: the plan had nothing to do.")
	}
	for _, name := range refused {
		var why []string
		for _, m := range mismatch[name] {
			why = append(why, m.String())
		}
		result.Hosts = append(result.Hosts, &plan.Host{Name: name, Address: ld.inv.Host(name).Address, Status: plan.StatusFailed,
			Error: "refused: it no longer matches the plan: " + strings.Join(why, "; ")})
	}
	result.Finish()
	g.report(result)
	if result.Failed() {
		return exitError{1}
	}
	return nil
}
