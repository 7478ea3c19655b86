package engine

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/inventory"
)

// Validate binds every task and handler of every play for every host it
// would run on, with facts unknown, and returns the diagnostics (each
// reported once, however many hosts share it). Nothing is contacted.
func (e *Engine) Validate() hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	add := func(ds hcl.Diagnostics) {
		for _, d := range ds {
			key := fmt.Sprintf("%s|%s|%v", d.Summary, d.Detail, d.Subject)
			if !seen[key] {
				seen[key] = true
				diags = append(diags, d)
			}
		}
	}
	scope := e.Scope.Offline()
	limit := e.runHosts()
	for _, p := range e.Playbook.Plays {
		selected, err := e.Inventory.Select(p.Hosts)
		if err != nil {
			add(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown hosts", Detail: fmt.Sprintf("Play %q: %v.", p.Name, err), Subject: p.HostsRange.Ptr()}})
			continue
		}
		for _, h := range inventory.Intersect(selected, limit) {
			for _, rn := range p.Roles {
				role, ok := e.Playbook.Roles[rn]
				if !ok {
					continue // reported when loading
				}
				ctx := scope.Context(h, role, p, cty.DynamicVal)
				add(role.CheckVariables(ctx))
				for _, t := range append(append(role.Tasks[:0:0], role.Tasks...), role.Handlers...) {
					_, _, d := bindInstances(e.Registry, t, role, ctx, e.Scope.files)
					add(d)
					if t.DelegateTo == nil {
						continue
					}
					for _, ictx := range instanceContexts(t, ctx) {
						if v, d := t.DelegateTo.Value(ictx); !d.HasErrors() && v.IsWhollyKnown() {
							if _, err := e.delegates(t, ictx); err != nil {
								add(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid delegate_to", Detail: err.Error() + ".", Subject: t.DelegateTo.Range().Ptr()}})
							}
						} else {
							add(d)
						}
					}
				}
			}
		}
	}
	return diags
}
