package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
)

// bindFor binds t for the host of evalCtx: once (or once per instance of
// its for_each), and each of those once per delegate. keys are its
// for_each's keys (see bindInstances).
func (e *Engine) bindFor(ctx context.Context, t *config.Task, role *config.Role, evalCtx *hcl.EvalContext) ([]*Bound, []string, error) {
	bound, keys, diags := bindInstances(e.Registry, t, role, evalCtx, e.Scope.files)
	if diags.HasErrors() {
		return nil, nil, &diagError{diags}
	}
	if t.DelegateTo == nil {
		return bound, keys, nil
	}
	var out []*Bound
	for _, inst := range bound {
		targets, err := e.delegates(t, inst.eval)
		if err != nil {
			return nil, nil, err
		}
		for _, target := range targets {
			// A module of its own for each delegate.
			b, skip, diags := Bind(e.Registry, t, role, inst.eval, e.Scope.files)
			if diags.HasErrors() {
				return nil, nil, &diagError{diags}
			}
			if skip {
				continue
			}
			b.Key, b.Keyed, b.Notify = inst.Key, inst.Keyed, inst.Notify
			b.Target = target
			out = append(out, b)
		}
	}
	return out, keys, nil
}

// delegates evaluates a task's delegate_to into hosts.
func (e *Engine) delegates(t *config.Task, evalCtx *hcl.EvalContext) ([]*inventory.Host, error) {
	v, diags := t.DelegateTo.Value(evalCtx)
	if diags.HasErrors() {
		return nil, &diagError{diags}
	}
	v, _ = v.Unmark()
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return nil, fmt.Errorf("delegate_to must be a host selection string, such as \"lb\"")
	}
	hosts, err := e.Inventory.Select(v.AsString())
	if err != nil {
		return nil, fmt.Errorf("delegate_to: %w", err)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("delegate_to %q selects no host", v.AsString())
	}
	return hosts, nil
}

// diagError is a host's failure on configuration errors (an expression
// that does not evaluate with the host's facts): it keeps the diagnostics,
// which the host's result carries to the edge (plan.Host.Diagnostics).
type diagError struct{ diags hcl.Diagnostics }

// Error flattens the errors among the diagnostics, one line each.
func (e *diagError) Error() string {
	var errs []error
	for _, d := range config.Explain(e.diags) {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if r := d.Subject; r != nil {
			msg = fmt.Sprintf("%s:%d:%d: %s", r.Filename, r.Start.Line, r.Start.Column, msg)
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...).Error()
}

// diagnosticsOf returns the errors among the diagnostics of err's
// diagError, placed as the files are written (see config's loader); none
// when err did not come from diagnostics.
func diagnosticsOf(err error) []config.Diagnostic {
	var de *diagError
	if !errors.As(err, &de) {
		return nil
	}
	var errs hcl.Diagnostics
	for _, d := range de.diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	return config.DiagnosticsJSON(errs)
}

type playTask struct {
	play *config.Play
	task *config.Task
}

// boundTask is a task as bindInstances left it: its instances whose when
// is true (none: skipped), and its for_each's keys.
type boundTask struct {
	bs   []*Bound
	keys []string
}

// takeBound returns, once, the task t of play p as readAhead bound it,
// when it bound it with the host's facts: binding is a function of the
// task, the host, the play and the facts, so binding again would build the
// same module (its Probe and NativeProbe are all readAhead called).
func (hr *hostRun) takeBound(p *config.Play, t *config.Task) (boundTask, bool) {
	k := playTask{p, t}
	bt, ok := hr.bound[k]
	if !ok || !hr.boundFacts.RawEquals(hr.facts) {
		return boundTask{}, false
	}
	delete(hr.bound, k)
	return bt, true
}
