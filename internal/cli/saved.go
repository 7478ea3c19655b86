package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/internal/config"
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

// savePlan writes p, which a run with o found, with what is needed to
// apply exactly it later; nonce is recordContent's.
func savePlan(path string, o playbookOptions, nonce string, ld *loaded, p *plan.Plan) error {
	abs := func(s string) string { a, _ := filepath.Abs(s); return a }
	extra := map[string]string{}
	for _, kv := range o.extra {
		k, v, _ := strings.Cut(kv, "=")
		extra[strings.TrimSpace(k)] = v
	}
	var roles []string
	for _, r := range o.rolesPath {
		roles = append(roles, abs(r))
	}
	return plan.WriteSaved(path, &plan.Saved{
		SkiffVersion: version.String(), Created: time.Now().UTC(), Inventory: abs(o.inventory), Playbook: abs(o.playbook),
		Limit: o.limit, Extra: extra, RolesPath: roles, Tags: o.tags.Only, SkipTags: o.tags.Skip, ConfigDigest: configDigest(ld),
		ContentNonce: nonce, ContentKeyCheck: ld.engine.ContentKey.Check(), Plan: p,
	})
}

// savedOptions are the options of a run of saved plan s, from o: the
// same inventory, playbook, limit, tags, roles path and variables, which
// o must leave out.
func savedOptions(o applyOptions, s *plan.Saved) (applyOptions, error) {
	if o.inventory != "" && o.inventory != s.Inventory {
		return o, fmt.Errorf("a saved plan names its inventory (%s): leave out -i", s.Inventory)
	}
	if len(o.extra) > 0 || o.limit != "" || !o.tags.IsZero() {
		return o, fmt.Errorf("a saved plan carries its own -e, --limit, --tags and --skip-tags: leave them out")
	}
	o.inventory, o.playbook, o.limit, o.rolesPath = s.Inventory, s.Playbook, s.Limit, s.RolesPath
	o.tags = config.TagFilter{Only: s.Tags, Skip: s.SkipTags}
	o.extra = nil
	for k, v := range s.Extra {
		o.extra = append(o.extra, k+"="+v)
	}
	return o, nil
}

// applySaved applies a saved plan: the same inventory, playbook, limit and
// variables; a host whose fresh plan differs from the saved one, or whose
// changes would write other content than the plan saw (a local file,
// template or secret changed), is refused.
func applySaved(ctx context.Context, c *console, r *reach, o applyOptions, s *plan.Saved) error {
	o, err := savedOptions(o, s)
	if err != nil {
		return err
	}
	ld, err := load(c, o.playbookOptions, r)
	if err != nil {
		return err
	}
	if err := pinContent(ld, s); err != nil {
		return err
	}
	rn := newRunner(c, o.playbookOptions, ld)
	fresh := rn.plan(ctx)
	mismatch := plan.Compare(s.Plan, fresh)
	refused := refuse(c, mismatch)
	var hosts []*inventory.Host
	for _, h := range fresh.Hosts {
		if _, bad := mismatch[h.Name]; !bad && len(h.Changes) > 0 {
			hosts = append(hosts, ld.inv.Host(h.Name))
		}
	}
	result := &plan.Plan{RunID: ld.engine.RunID, Mode: "apply"}
	if len(hosts) > 0 {
		if !o.yes {
			p := *fresh
			p.Hosts = nil
			for _, h := range fresh.Hosts {
				if _, bad := mismatch[h.Name]; !bad {
					p.Hosts = append(p.Hosts, h)
				}
			}
			if proceed, err := confirmPlan(c, o.output, &p); !proceed {
				return err
			}
		}
		ld.engine.Hosts = hosts
		ld.engine.RunID = engine.NewRunID()
		if result, err = rn.applyJournalled(ctx, engine.Changes{Rollback: !o.noRollback, Pinned: s.Plan.Contents()}, refused); err != nil {
			return err
		}
	} else if len(refused) == 0 {
		fmt.Fprintln(c.err, "No changes: the plan had nothing to do.")
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
	reportRun(c, o.output, result)
	if result.Failed() {
		return exitError{1}
	}
	return nil
}

// pinContent checks that ld decodes the files the saved plan s was made
// from, and keys the run's content digests as s's were.
func pinContent(ld *loaded, s *plan.Saved) error {
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
	return nil
}

// refuse names on stderr, in host order, the hosts that no longer match
// the plan, and why; it returns their names.
func refuse(c *console, mismatch map[string][]plan.Mismatch) []string {
	var refused []string
	for name := range mismatch {
		refused = append(refused, name)
	}
	sort.Strings(refused)
	for _, name := range refused {
		fmt.Fprintf(c.err, "skiff: %s: refused: it no longer matches the plan:\n", name)
		for _, m := range mismatch[name] {
			fmt.Fprintf(c.err, "    %s\n", m)
		}
	}
	return refused
}
