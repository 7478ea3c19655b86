package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/secret"
)

// Validation is a variable's validation block: a condition its value must
// meet on every host, and the message that says what is wrong otherwise.
//
//	variable "app_version" {
//	  default = "dev"
//	  validation {
//	    condition     = length(regexall("^[A-Za-z0-9][A-Za-z0-9._+-]*$", var.app_version)) > 0
//	    error_message = "app_version is a release label: …"
//	  }
//	}
type Validation struct {
	Condition    hcl.Expression
	ErrorMessage string
}

// variableBody splits a variable block's body into its arguments and its
// validation blocks; any other block is an error. (HCL's JustAttributes
// would refuse the validation blocks too.)
func variableBody(body hcl.Body) (hcl.Attributes, []*hcl.Block, hcl.Diagnostics) {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		attrs, diags := body.JustAttributes()
		return attrs, nil, diags
	}
	attrs := hcl.Attributes{}
	for n, a := range sb.Attributes {
		attrs[n] = a.AsHCLAttribute()
	}
	var checks []*hcl.Block
	var diags hcl.Diagnostics
	for _, b := range sb.Blocks {
		if b.Type != "validation" || len(b.Labels) > 0 {
			diags = append(diags, errAt(b.TypeRange, fmt.Sprintf("Unexpected %q block", b.Type), "A variable block holds only validation blocks, without labels."))
			continue
		}
		checks = append(checks, b.AsHCLBlock())
	}
	return attrs, checks, diags
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

func decodeValidation(b *hcl.Block) (*Validation, hcl.Diagnostics) {
	content, diags := b.Body.Content(validationSchema)
	if diags.HasErrors() {
		return nil, diags
	}
	msg, d := content.Attributes["error_message"].Expr.Value(nil)
	if d.HasErrors() || msg.IsNull() || msg.Type() != cty.String || msg.AsString() == "" {
		return nil, append(diags, errAt(content.Attributes["error_message"].Expr.Range(), "Invalid error_message",
			"error_message is a non-empty string written out (it cannot refer to variables)."))
	}
	return &Validation{Condition: content.Attributes["condition"].Expr, ErrorMessage: msg.AsString()}, diags
}

// CheckVariables evaluates the validation blocks of r's variables in ctx,
// whose var holds their values for one host, and returns an error at the
// condition for each one that fails, quoting the value (unless it is
// sensitive). A condition that cannot be known yet (it reads facts before
// they are read) passes until it can.
func (r *Role) CheckVariables(ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	vars := cty.NilVal
	if v, ok := ctx.Variables["var"]; ok && v.Type().IsObjectType() {
		vars = v
	}
	for _, v := range r.Variables {
		for _, c := range v.Validations {
			ok, d := c.Condition.Value(ctx)
			if d.HasErrors() {
				diags = append(diags, d...)
				continue
			}
			ok, _ = ok.UnmarkDeep()
			if !ok.IsKnown() {
				continue
			}
			if ok.IsNull() || ok.Type() != cty.Bool {
				diags = append(diags, errAt(c.Condition.Range(), "Invalid validation condition",
					fmt.Sprintf("The condition of variable %q must be true or false, not %s.", v.Name, ok.Type().FriendlyName())))
				continue
			}
			if ok.True() {
				continue
			}
			value := "not set"
			if vars != cty.NilVal && vars.Type().HasAttribute(v.Name) {
				value = "is " + shown(vars.GetAttr(v.Name))
			}
			diags = append(diags, errAt(c.Condition.Range(), "Invalid value for variable",
				fmt.Sprintf("%s Here var.%s %s.", c.ErrorMessage, v.Name, value)))
		}
	}
	return diags
}

// shown writes a variable's value for a message: strings quoted, secrets
// as secret.Redacted.
func shown(v cty.Value) string {
	switch {
	case secret.Is(v):
		return secret.Redacted
	case v.IsNull():
		return "null"
	case !v.IsWhollyKnown():
		return "not known yet"
	case v.Type() == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	case v.Type() == cty.Bool:
		return fmt.Sprint(v.True())
	}
	return "a " + v.Type().FriendlyName()
}
