package config

import (
	"fmt"
	"regexp"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// userName is what become_user takes: a login name as useradd accepts it
// (never an option, a path or a shell word that needs quoting to be one).
var userName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)

// ValidUserName reports whether s can be a become_user.
func ValidUserName(s string) bool { return len(s) <= 32 && userName.MatchString(s) }

// BecomeUserRule says what become_user takes, for messages.
const BecomeUserRule = `a user name such as "postgres" (letters, digits, _, . and -; at most 32)`

// decodePlayBecomeUser reads a play's become_user: a literal user name.
func decodePlayBecomeUser(expr hcl.Expression) (string, hcl.Diagnostics) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return "", hcl.Diagnostics{errAt(expr.Range(), "Invalid become_user", fmt.Sprintf("A play's become_user must be written out: %s (a task's become_user may be an expression).", BecomeUserRule))}
	}
	if v.IsNull() || !v.IsWhollyKnown() || v.Type() != cty.String || !ValidUserName(v.AsString()) {
		what := describe(v)
		if !v.IsNull() && v.IsWhollyKnown() && v.Type() == cty.String {
			what = fmt.Sprintf("%q", v.AsString())
		}
		return "", hcl.Diagnostics{errAt(expr.Range(), "Invalid become_user", fmt.Sprintf("become_user must be %s, not %s.", BecomeUserRule, what))}
	}
	return v.AsString(), nil
}
