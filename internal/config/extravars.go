package config

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"

	"github.com/skiffdeploy/skiff/internal/suggest"
)

// CheckExtraVars returns an error for each -e name that nothing of the run
// sets or reads as a variable: no variable block or var reference of the
// playbook's roles, no play's vars, no vars of the inventory (defaults,
// groups, hosts). Such a value would change nothing (a misspelt name, as
// app_verison for app_version), so it is refused rather than ignored; the
// error suggests the nearest known name.
func CheckExtraVars(names []string, inv *Inventory, pb *Playbook) hcl.Diagnostics {
	known := map[string]bool{}
	anyName := false
	for _, r := range pb.Roles {
		for _, v := range r.Variables {
			known[v.Name] = true
		}
		u := r.VarUse()
		addKeys(known, u.Names)
		anyName = anyName || u.Any
	}
	for _, p := range pb.Plays {
		addKeys(known, p.Vars)
	}
	addKeys(known, inv.Vars)
	for _, g := range inv.Groups {
		addKeys(known, g.Vars)
	}
	for _, h := range inv.Hosts {
		addKeys(known, h.Vars)
	}
	if anyName {
		return nil // some role reads var by a computed name
	}
	secrets := map[string]bool{}
	for _, s := range inv.Secrets {
		secrets[s.Name] = true
	}
	candidates := make([]string, 0, len(known))
	for k := range known {
		candidates = append(candidates, k)
	}
	sort.Strings(candidates)
	var diags hcl.Diagnostics
	reported := map[string]bool{}
	for _, n := range names {
		if known[n] || reported[n] {
			continue
		}
		reported[n] = true
		detail := fmt.Sprintf("-e %s: no play, role or inventory of this run declares or reads var.%s, so the value would change nothing.", n, n)
		switch near := suggest.Nearest(n, candidates); {
		case secrets[n]:
			detail += fmt.Sprintf(" %s is a secret of the inventory (secret.%s): -e does not set secrets.", n, n)
		case near != "":
			detail += fmt.Sprintf(" Did you mean %s?", near)
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable", Detail: detail})
	}
	return diags
}

func addKeys[V any](set map[string]bool, m map[string]V) {
	for k := range m {
		set[k] = true
	}
}
