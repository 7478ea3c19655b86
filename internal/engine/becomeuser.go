package engine

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/secret"
)

// becomeUser is the user task t runs as in ctx: its own become_user,
// evaluated, else its play's; "" is root (and so is "root"). at is where
// the task's own become_user is written, nil when it has none. An unknown
// value (validate, before the facts) is "".
func becomeUser(t *config.Task, ctx *hcl.EvalContext) (user string, at *hcl.Range, diags hcl.Diagnostics) {
	if t.BecomeUser == nil {
		if play, ok := ctx.Variables["play"]; ok && play.Type().IsObjectType() && play.Type().HasAttribute("become_user") {
			user = play.GetAttr("become_user").AsString()
		}
		return rootless(user), nil, nil
	}
	rng := t.BecomeUser.Range()
	v, diags := t.BecomeUser.Value(ctx)
	if diags.HasErrors() {
		return "", nil, diags
	}
	bad := func(detail string) hcl.Diagnostics {
		return append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid become_user", Detail: detail, Subject: &rng})
	}
	if secret.Is(v) {
		return "", nil, bad("become_user must not derive from a secret: it is shown in plans and journals.")
	}
	v, _ = v.UnmarkDeep()
	switch {
	case !v.IsWhollyKnown():
		return "", &rng, diags
	case v.IsNull() || v.Type() != cty.String:
		return "", nil, bad(fmt.Sprintf("become_user must be %s.", config.BecomeUserRule))
	case !config.ValidUserName(v.AsString()):
		return "", nil, bad(fmt.Sprintf("become_user must be %s, not %q.", config.BecomeUserRule, v.AsString()))
	}
	return rootless(v.AsString()), &rng, diags
}

// rootless is user, or "" for root: skiff's shell already runs as root.
func rootless(user string) string {
	if user == "root" {
		return ""
	}
	return user
}
