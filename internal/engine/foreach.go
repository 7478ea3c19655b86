package engine

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/module"
)

// bindInstances binds t in ctx: once, or, with for_each, once per
// instance (in key order) with each.key and each.value; those whose when
// is false are left out. keys are the for_each's keys, whether when skips
// them or not: non-nil for a task with for_each whose value is known.
// A for_each not known yet (validate) binds one instance with each
// unknown, so that the arguments are checked.
func bindInstances(reg module.Registry, t *config.Task, role *config.Role, ctx *hcl.EvalContext, files *module.LocalFiles) (out []*Bound, keys []string, diags hcl.Diagnostics) {
	bind := func(c *hcl.EvalContext, inst *config.Instance) {
		b, skip, d := Bind(reg, t, role, c, files)
		diags = append(diags, d...)
		if d.HasErrors() || skip {
			return
		}
		notify, d := role.NotifyOf(t, c)
		diags = append(diags, d...)
		if d.HasErrors() {
			return
		}
		b.Notify = notify
		if inst != nil {
			b.Key, b.Keyed = inst.Key, true
		}
		out = append(out, b)
	}
	if t.ForEach == nil {
		bind(ctx, nil)
		return out, nil, diags
	}
	insts, known, d := t.Instances(ctx)
	diags = append(diags, d...)
	if d.HasErrors() {
		return nil, nil, diags
	}
	if !known {
		bind(config.UnknownEachContext(ctx), nil)
		return out, nil, diags
	}
	keys = []string{}
	for i := range insts {
		keys = append(keys, insts[i].Key)
		bind(config.EachContext(ctx, insts[i]), &insts[i])
	}
	if diags.HasErrors() {
		return nil, nil, diags
	}
	return out, keys, diags
}

// instanceContexts are the contexts t's instances are evaluated in: ctx
// itself without for_each; nil when its for_each does not evaluate; one
// with each unknown when its for_each is not known yet.
func instanceContexts(t *config.Task, ctx *hcl.EvalContext) []*hcl.EvalContext {
	if t.ForEach == nil {
		return []*hcl.EvalContext{ctx}
	}
	insts, known, diags := t.Instances(ctx)
	if diags.HasErrors() {
		return nil
	}
	if !known {
		return []*hcl.EvalContext{config.UnknownEachContext(ctx)}
	}
	out := make([]*hcl.EvalContext, len(insts))
	for i := range insts {
		out[i] = config.EachContext(ctx, insts[i])
	}
	return out
}
