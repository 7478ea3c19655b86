package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// A task with for_each is several instances, one per key of a map (or per
// string of a set or list), each addressed KIND.NAME["KEY"] and evaluated
// with each.key and each.value (for a set, each.value is the key).

// Instance is one element of a task's for_each.
type Instance struct {
	Key   string
	Value cty.Value
}

// InstanceID is the address of a task's instance: `file.conf["a"]`.
func InstanceID(id, key string) string { return id + "[" + strconv.Quote(key) + "]" }

// SplitInstance splits a reference such as `file.conf["a"]` (or
// `handler_name["a"]`) into `file.conf` and the key. hasKey is false for a
// reference without brackets; ok is false when the brackets hold no quoted
// string.
func SplitInstance(ref string) (base, key string, hasKey, ok bool) {
	i := strings.IndexByte(ref, '[')
	if i < 0 {
		return ref, "", false, true
	}
	if !strings.HasSuffix(ref, "]") {
		return ref, "", true, false
	}
	key, err := strconv.Unquote(ref[i+1 : len(ref)-1])
	if err != nil {
		return ref, "", true, false
	}
	return ref[:i], key, true, true
}

// Instances evaluates the task's for_each in ctx: its instances, sorted by
// key. known is false when the value is not known yet (facts, in
// validate): the task is then checked with each.key and each.value unknown.
func (t *Task) Instances(ctx *hcl.EvalContext) (out []Instance, known bool, diags hcl.Diagnostics) {
	v, diags := t.ForEach.Value(ctx)
	if diags.HasErrors() {
		return nil, false, diags
	}
	r := t.ForEach.Range()
	bad := func(detail string) hcl.Diagnostics {
		return append(diags, errAt(r, "Invalid for_each", detail))
	}
	if !v.IsKnown() {
		return nil, false, diags
	}
	if v.IsMarked() {
		return nil, false, bad("for_each names the instances in plans and journals: its keys cannot come from a secret.")
	}
	if v.IsNull() {
		return nil, false, bad("for_each must be a map, or a set or list of strings, not null.")
	}
	ty := v.Type()
	switch {
	case ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out = append(out, Instance{Key: k.AsString(), Value: e})
		}
	case ty.IsSetType() || ty.IsListType() || ty.IsTupleType():
		if !v.IsWhollyKnown() {
			return nil, false, diags
		}
		seen := map[string]bool{}
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			if e.IsMarked() {
				return nil, false, bad("for_each names the instances in plans and journals: its keys cannot come from a secret.")
			}
			if e.IsNull() || e.Type() != cty.String {
				return nil, false, bad(fmt.Sprintf("A set or list in for_each holds strings only; element %d is %s (convert with tostring, or use a map).", i, describe(e)))
			}
			k := e.AsString()
			if seen[k] {
				return nil, false, append(diags, errAt(elemRange(t.ForEach, i, r), "Duplicate for_each key",
					fmt.Sprintf("%q appears twice in for_each: each key names one instance (use toset or distinct to drop repeats).", k)))
			}
			seen[k] = true
			out = append(out, Instance{Key: k, Value: e})
		}
	default:
		return nil, false, bad(fmt.Sprintf("for_each must be a map, or a set or list of strings, not %s.", describe(v)))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Key < out[b].Key })
	return out, true, diags
}

// EachContext is ctx with each.key and each.value of inst.
func EachContext(ctx *hcl.EvalContext, inst Instance) *hcl.EvalContext {
	c := ctx.NewChild()
	c.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{
		"key": cty.StringVal(inst.Key), "value": inst.Value,
	})}
	return c
}

// UnknownEachContext is ctx with each.key and each.value unknown: a task
// whose for_each is not known yet is checked with it.
func UnknownEachContext(ctx *hcl.EvalContext) *hcl.EvalContext {
	c := ctx.NewChild()
	c.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{
		"key": cty.UnknownVal(cty.String), "value": cty.DynamicVal,
	})}
	return c
}

// expressions are the task's expressions that are evaluated per instance.
func (t *Task) expressions() []hcl.Expression {
	out := []hcl.Expression{t.When, t.DelegateTo, t.NotifyEach}
	for _, n := range sortedAttrNames(t.Attrs) {
		out = append(out, t.Attrs[n].Expr)
	}
	return out
}

// checkEach reports each.* read by a task without for_each, an attribute
// of each other than key and value, duplicate keys written out in a
// for_each map, and a for_each that reads each.
func checkEach(t *Task) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, expr := range t.expressions() {
		if expr == nil {
			continue
		}
		for _, tr := range expr.Variables() {
			if tr.RootName() != "each" {
				continue
			}
			if t.ForEach == nil {
				diags = append(diags, errAt(tr.SourceRange(), "each without for_each",
					fmt.Sprintf("%s reads each, which exists only in a task or handler with for_each.", t.ID())))
				continue
			}
			if len(tr) > 1 {
				if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name != "key" && a.Name != "value" {
					diags = append(diags, errAt(tr.SourceRange(), "Unsupported attribute",
						fmt.Sprintf("each has two attributes, key and value; not %q.", a.Name)))
				}
			}
		}
	}
	if t.ForEach == nil {
		return diags
	}
	for _, tr := range t.ForEach.Variables() {
		if tr.RootName() == "each" {
			diags = append(diags, errAt(tr.SourceRange(), "Invalid for_each", "for_each cannot read each: it is what defines it."))
		}
	}
	if obj, ok := t.ForEach.(*hclsyntax.ObjectConsExpr); ok {
		seen := map[string]bool{}
		for _, item := range obj.Items {
			k, d := item.KeyExpr.Value(nil)
			if d.HasErrors() || !k.IsKnown() || k.IsNull() {
				continue
			}
			key, err := convertString(k)
			if err != nil {
				continue
			}
			if seen[key] {
				diags = append(diags, errAt(item.KeyExpr.Range(), "Duplicate for_each key",
					fmt.Sprintf("%q appears twice in for_each: each key names one instance.", key)))
			}
			seen[key] = true
		}
	}
	return diags
}

func convertString(v cty.Value) (string, error) {
	if v.Type() == cty.String {
		return v.AsString(), nil
	}
	if v.Type() == cty.Number {
		return v.AsBigFloat().Text('f', -1), nil
	}
	return "", fmt.Errorf("not a string")
}

// readsEach reports whether expr reads each.
func readsEach(expr hcl.Expression) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() == "each" {
			return true
		}
	}
	return false
}

// NotifyOf is what task t notifies when bound in ctx: its notify, or,
// when that reads each, its notify evaluated for the instance of ctx and
// checked as a literal one is when the role is loaded.
func (r *Role) NotifyOf(t *Task, ctx *hcl.EvalContext) ([]string, hcl.Diagnostics) {
	if t.NotifyEach == nil {
		return t.Notify, nil
	}
	v, diags := t.NotifyEach.Value(ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	if !v.IsWhollyKnown() {
		return nil, diags // validate, each unknown
	}
	names, ok := stringList(v, true)
	if !ok {
		return nil, append(diags, errAt(t.NotifyRange, "Invalid notify", "notify is a handler name or a list of handler names."))
	}
	for i, n := range names {
		if d := r.CheckNotify(t, n); d != nil {
			d.Subject = elemRange(t.NotifyEach, i, t.NotifyRange).Ptr()
			diags = append(diags, d)
		}
	}
	return names, diags
}
