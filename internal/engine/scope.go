package engine

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/secret"
)

// Scope holds what every expression of a run can see besides the host's own
// variables: the inventory (groups, hosts), secrets, -e values.
type Scope struct {
	inv     *inventory.Inventory
	groups  cty.Value
	hosts   cty.Value
	secrets cty.Value
	extra   map[string]cty.Value
	// local are functions with local side effects (the CA issuing
	// certificates); offline replaces them by unknown results for validate.
	local   map[string]function.Function
	offline bool
	// files caches local sources and templates for every host of the run.
	files *module.LocalFiles
	scrub *secret.Scrubber
}

// KeepDigests keeps the sha256 of large local files in dir across runs
// (module.LocalFiles.DigestDir). Call it before the run.
func (s *Scope) KeepDigests(dir string) { s.files.DigestDir = dir }

// NewScope builds the run-wide part of every evaluation context. Secrets
// carry the secret mark, so anything computed from them is redacted.
// local adds functions with local side effects (tls_cert…).
func NewScope(inv *inventory.Inventory, secrets map[string]string, extra map[string]cty.Value, local map[string]function.Function) *Scope {
	s := &Scope{inv: inv, extra: extra, local: local, files: &module.LocalFiles{}}
	hostObjs := map[string]cty.Value{}
	for _, h := range inv.Hosts {
		hostObjs[h.Name] = hostObject(h, true)
	}
	groups := map[string]cty.Value{}
	for _, g := range inv.GroupNames() {
		var list []cty.Value
		for _, h := range inv.Group(g) {
			list = append(list, hostObjs[h.Name])
		}
		if len(list) == 0 {
			groups[g] = cty.ListValEmpty(cty.DynamicPseudoType)
		} else {
			groups[g] = cty.TupleVal(list)
		}
	}
	s.groups = cty.ObjectVal(groups)
	s.hosts = cty.ObjectVal(hostObjs)
	sec := map[string]cty.Value{}
	for k, v := range secrets {
		sec[k] = secret.Wrap(cty.StringVal(v))
	}
	s.secrets = cty.ObjectVal(sec)
	s.scrub = secret.ForRun(secrets)
	return s
}

// Scrub hides the run's secrets in text that is shown or kept: a secret
// interpolated into a larger string is scrubbed by its own value, which a
// host tool may print alone (see secret.ForRun).
func (s *Scope) Scrub(text string) string { return s.scrub.Scrub(text) }

func hostObject(h *inventory.Host, withVars bool) cty.Value {
	groups := make([]cty.Value, len(h.Groups))
	for i, g := range h.Groups {
		groups[i] = cty.StringVal(g)
	}
	o := map[string]cty.Value{
		"name":    cty.StringVal(h.Name),
		"address": cty.StringVal(h.Address),
		"groups":  cty.ListVal(groups),
	}
	if withVars {
		o["vars"] = cty.ObjectVal(h.Vars)
	}
	return cty.ObjectVal(o)
}

// Context returns the evaluation context of a role's tasks on host h.
// Variables, lowest precedence first: role defaults, inventory (defaults,
// groups, host), play vars, -e. facts is cty.DynamicVal when unknown.
func (s *Scope) Context(h *inventory.Host, role *config.Role, play *config.Play, facts cty.Value) *hcl.EvalContext {
	vars := map[string]cty.Value{}
	for _, v := range role.Variables {
		vars[v.Name] = v.Default
	}
	for k, v := range h.Vars {
		vars[k] = v
	}
	for k, v := range play.Vars {
		vars[k] = v
	}
	for k, v := range s.extra {
		vars[k] = v
	}
	ctx := config.Functions()
	for name, f := range s.local {
		if s.offline {
			f = unknownResult(f)
		}
		ctx.Functions[name] = f
	}
	ctx.Variables = map[string]cty.Value{
		"var":    cty.ObjectVal(vars),
		"host":   hostObject(h, false),
		"facts":  facts,
		"secret": s.secrets,
		"groups": s.groups,
		"hosts":  s.hosts,
		"role":   cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(role.Name), "dir": cty.StringVal(role.Dir)}),
		"play":   cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(play.Name), "become_user": cty.StringVal(play.BecomeUser)}),
	}
	return ctx
}

// Bound is a task bound to one host: its module, ready to probe.
type Bound struct {
	Task   *config.Task
	Role   *config.Role
	Module module.Module
	// Target is the host a delegated task runs on; nil: the host itself.
	Target *inventory.Host
	// Key is the instance's key, when Keyed (a task with for_each).
	Key   string
	Keyed bool
	// Notify are the handlers it notifies: the task's, or its notify
	// evaluated for the instance (see config.Role.NotifyOf).
	Notify []string
	eval   *hcl.EvalContext // what it was bound in
}

// ID names the bound task in plans and journals: `template.site`, or
// `file.conf["a"]` for an instance.
func (b *Bound) ID() string { return b.instance(b.Task.ID()) }

// instance is id with the instance's key, when it has one.
func (b *Bound) instance(id string) string {
	if b.Keyed {
		return config.InstanceID(id, b.Key)
	}
	return id
}

// Bind evaluates t for one host. skip is true when its `when` is false.
// An unknown `when` (validate, facts unread) binds the task, so its
// arguments are checked too.
func Bind(reg module.Registry, t *config.Task, role *config.Role, ctx *hcl.EvalContext, files *module.LocalFiles) (b *Bound, skip bool, diags hcl.Diagnostics) {
	if t.When != nil {
		v, d := t.When.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			return nil, false, diags
		}
		v, _ = v.UnmarkDeep()
		if v.IsKnown() {
			if v.IsNull() || v.Type() != cty.Bool {
				return nil, false, append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError, Summary: "Invalid when",
					Detail:  fmt.Sprintf("when must be true or false, not %s.", v.Type().FriendlyName()),
					Subject: t.When.Range().Ptr(),
				})
			}
			if v.False() {
				return nil, true, diags
			}
		}
	}
	attrs := map[string]module.Attr{}
	for name, a := range t.Attrs {
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		attrs[name] = module.Attr{Value: v, Range: a.Expr.Range(), NameRange: a.NameRange}
	}
	if diags.HasErrors() {
		return nil, false, diags
	}
	factory, ok := reg[t.Kind]
	if !ok {
		return nil, false, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown task kind", Detail: t.Kind, Subject: t.Range.Ptr()})
	}
	args := module.NewArgs(t.Kind, t.Name, t.Range, attrs)
	user, own, d := becomeUser(t, ctx)
	if diags = append(diags, d...); d.HasErrors() {
		return nil, false, diags
	}
	args.SetBecomeUser(user, own)
	args.RoleDir = role.Dir
	args.Eval = ctx
	args.Files = files
	m := factory(args)
	diags = append(diags, args.Finish()...)
	if diags.HasErrors() {
		return nil, false, diags
	}
	return &Bound{Task: t, Role: role, Module: m, Notify: t.Notify, eval: ctx}, false, diags
}

// Offline returns a copy of s for `skiff validate`: functions with local
// side effects return unknown values instead of acting.
func (s *Scope) Offline() *Scope {
	c := *s
	c.offline = true
	return &c
}

// unknownResult has f's signature and returns an unknown value of f's type.
func unknownResult(f function.Function) function.Function {
	spec := &function.Spec{
		Params: f.Params(),
		Type: func(args []cty.Value) (cty.Type, error) {
			return f.ReturnTypeForValues(args)
		},
		Impl: func(_ []cty.Value, ret cty.Type) (cty.Value, error) {
			return cty.UnknownVal(ret), nil
		},
	}
	if vp := f.VarParam(); vp != nil {
		spec.VarParam = vp
	}
	return function.New(spec)
}
