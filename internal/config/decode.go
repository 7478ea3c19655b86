package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
)

// decodeArg decodes a literal argument into target (a pointer). A value of
// the wrong type is one diagnostic at the value, naming the argument and
// what it takes (want, such as "a number from 1 to 65535"), instead of
// gohcl's generic one.
func decodeArg(name string, expr hcl.Expression, target any, want string) hcl.Diagnostics {
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	if d := gohcl.DecodeExpression(expr, nil, target); d.HasErrors() {
		return hcl.Diagnostics{errAt(expr.Range(), "Invalid "+name, fmt.Sprintf("%s must be %s, not %s.", name, want, describe(v)))}
	}
	return nil
}

// describe names a value's kind for messages, never its content.
func describe(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.Number:
		return "a number"
	case v.Type() == cty.String:
		return "a string"
	case v.Type() == cty.Bool:
		return "a bool"
	case v.Type().IsTupleType() || v.Type().IsListType() || v.Type().IsSetType():
		return "a list"
	case v.Type().IsObjectType() || v.Type().IsMapType():
		return "an object"
	}
	return v.Type().FriendlyName()
}
