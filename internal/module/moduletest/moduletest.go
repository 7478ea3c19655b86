// Package moduletest helps unit-test modules without a host: builders for
// Args, and a driver that runs Probe, Check and Apply the way the engine
// does, on the local machine (transporttest.Local). For tests only.
package moduletest

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// Probe runs m's probe fragment in its own subshell, as the engine does.
func Probe(t testing.TB, m module.Module) module.Probed {
	t.Helper()
	frag := m.Probe()
	if frag == "" {
		return module.Probed{}
	}
	res, err := (&transporttest.Local{}).Run(context.Background(), "(\n"+frag+"\n)\n")
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	return module.Probed{Stdout: res.Stdout, ExitCode: res.ExitCode}
}

// Check probes m and checks the result, failing the test on an error.
func Check(t testing.TB, m module.Module) *module.Change {
	t.Helper()
	ch, err := m.Check(Probe(t, m))
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return ch
}

// Converge probes, checks and applies m (built anew by build each time, as
// the engine builds a module per run), requires a change the first time,
// then requires the second check to find nothing: the module is idempotent.
// It returns the first change.
func Converge(t testing.TB, build func() module.Module) *module.Change {
	t.Helper()
	m := build()
	ch := Check(t, m)
	if ch == nil {
		t.Fatalf("first check found no change")
	}
	if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatalf("apply %q: %v", ch.Summary, err)
	}
	if again := Check(t, build()); again != nil {
		t.Fatalf("not idempotent: after applying %q, check still finds %+v", ch.Summary, *again)
	}
	return ch
}

// Args builds module.Args from plain values; each value is also given a
// distinct range so diagnostics can be matched to their argument.
func Args(kind, name string, vals map[string]cty.Value) *module.Args {
	attrs := map[string]module.Attr{}
	line := 2
	for k, v := range vals {
		attrs[k] = module.Attr{Value: v, Range: hcl.Range{
			Filename: "role.hcl",
			Start:    hcl.Pos{Line: line, Column: 3},
			End:      hcl.Pos{Line: line, Column: 10},
		}}
		line++
	}
	return module.NewArgs(kind, name, hcl.Range{Filename: "role.hcl", Start: hcl.Pos{Line: 1, Column: 1}}, attrs)
}

// Build runs factory on args and returns the module and the diagnostics of
// Finish, as the engine does.
func Build(factory module.Factory, a *module.Args) (module.Module, hcl.Diagnostics) {
	m := factory(a)
	return m, a.Finish()
}

// MustBuild is Build that fails the test on any diagnostic.
func MustBuild(t testing.TB, factory module.Factory, a *module.Args) module.Module {
	t.Helper()
	m, diags := Build(factory, a)
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics: %v", diags)
	}
	return m
}

// DiagsContain fails the test unless some diagnostic's detail or summary
// contains want.
func DiagsContain(t testing.TB, diags hcl.Diagnostics, want string) {
	t.Helper()
	for _, d := range diags {
		if strings.Contains(d.Detail, want) || strings.Contains(d.Summary, want) {
			return
		}
	}
	t.Fatalf("no diagnostic contains %q; got %v", want, diags)
}

// NoSecret fails the test if secret appears anywhere in ch or in err.
func NoSecret(t testing.TB, secretValue string, ch *module.Change, err error) {
	t.Helper()
	if ch != nil && (strings.Contains(ch.Summary, secretValue) || strings.Contains(ch.Diff, secretValue)) {
		t.Fatalf("secret value appears in change %+v", *ch)
	}
	if err != nil && strings.Contains(err.Error(), secretValue) {
		t.Fatalf("secret value appears in error %v", err)
	}
}
