package service

import (
	"context"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func probe(load, reload, active, enabled string) string {
	return "LoadState=" + load + "\nNeedDaemonReload=" + reload + "\nActiveState=" + active + "\nUnitFileState=" + enabled + "\n"
}

func build(t *testing.T, vals map[string]cty.Value) *Service {
	t.Helper()
	vals["name"] = cty.StringVal("nginx")
	return moduletest.MustBuild(t, New, moduletest.Args("service", "s", vals)).(*Service)
}

func TestCheck(t *testing.T) {
	started := map[string]cty.Value{"state": cty.StringVal("started"), "enabled": cty.True}
	for _, tc := range []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		action  plan.Action
		summary string
		ops     string
		err     string
	}{
		{name: "running and enabled", vals: started, out: probe("loaded", "no", "active", "enabled")},
		{name: "static counts as enabled", vals: started, out: probe("loaded", "no", "active", "static")},
		{name: "inactive", vals: started, out: probe("loaded", "no", "inactive", "enabled"), action: plan.Update, summary: "start nginx", ops: "start"},
		{name: "failed", vals: started, out: probe("loaded", "no", "failed", "enabled"), action: plan.Update, summary: "start nginx", ops: "start"},
		{name: "disabled", vals: started, out: probe("loaded", "no", "active", "disabled"), action: plan.Update, summary: "enable nginx", ops: "enable"},
		{name: "both", vals: started, out: probe("loaded", "yes", "inactive", "disabled"), action: plan.Update, summary: "enable nginx; start nginx", ops: "enable,start"},
		{name: "unit not found yet", vals: started, out: probe("not-found", "no", "inactive", ""), action: plan.Update, summary: "enable nginx; start nginx (unit not found yet)", ops: "enable,start"},
		{name: "stop", vals: map[string]cty.Value{"state": cty.StringVal("stopped"), "enabled": cty.False}, out: probe("loaded", "no", "active", "enabled"),
			action: plan.Update, summary: "disable nginx; stop nginx", ops: "disable,stop"},
		{name: "stopped missing unit", vals: map[string]cty.Value{"state": cty.StringVal("stopped"), "enabled": cty.False}, out: probe("not-found", "no", "inactive", "")},
		{name: "stopped masked", vals: map[string]cty.Value{"state": cty.StringVal("stopped"), "enabled": cty.False}, out: probe("masked", "no", "inactive", "masked")},
		{name: "restart", vals: map[string]cty.Value{"state": cty.StringVal("restarted")}, out: probe("loaded", "no", "active", "enabled"), action: plan.Run, summary: "restart nginx", ops: "restart"},
		{name: "reload", vals: map[string]cty.Value{"state": cty.StringVal("reloaded")}, out: probe("loaded", "no", "active", "enabled"), action: plan.Run, summary: "reload nginx", ops: "reload"},
		{name: "reload inactive", vals: map[string]cty.Value{"state": cty.StringVal("reloaded")}, out: probe("loaded", "no", "inactive", "enabled"), action: plan.Run, summary: "start nginx (reload asked, not running)", ops: "reload"},
		{name: "enabled only", vals: map[string]cty.Value{"enabled": cty.True}, out: probe("loaded", "no", "inactive", "enabled")},
		{name: "masked", vals: started, out: probe("masked", "no", "inactive", "masked"), err: "is masked"},
		{name: "SysV script: is-enabled decides", vals: started, out: probe("loaded", "no", "active", "generated") + "enabled=disabled\n", action: plan.Update, summary: "enable nginx", ops: "enable"},
		{name: "no systemd", vals: started, out: "systemd=no\n", err: "needs systemd"},
		{name: "garbage", vals: started, out: "Failed to connect to bus\n", err: "no LoadState"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, tc.vals)
			ch, err := s.Check(module.Probed{Stdout: []byte(tc.out)})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.action == "" {
				if ch != nil {
					t.Fatalf("unexpected change %+v", *ch)
				}
				return
			}
			if ch == nil || ch.Action != tc.action || ch.Summary != tc.summary || strings.Join(s.ops, ",") != tc.ops {
				t.Fatalf("change = %+v, ops %v", ch, s.ops)
			}
		})
	}
}

type fake struct {
	transport.Transport
	ran []string
	res transport.Result
}

func (f *fake) Run(_ context.Context, s string) (transport.Result, error) {
	f.ran = append(f.ran, s)
	return f.res, nil
}

func TestApply(t *testing.T) {
	s := build(t, map[string]cty.Value{"state": cty.StringVal("started"), "enabled": cty.True})
	s.Check(module.Probed{Stdout: []byte(probe("loaded", "yes", "inactive", "disabled"))})
	f := &fake{}
	if err := s.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	sc := f.ran[0]
	dr, en, st := strings.Index(sc, "daemon-reload"), strings.Index(sc, "systemctl enable 'nginx'"), strings.Index(sc, "systemctl start 'nginx'")
	if dr < 0 || en < dr || st < en {
		t.Errorf("script order:\n%s", sc)
	}

	f = &fake{res: transport.Result{ExitCode: exitNoUnit}}
	if err := s.Apply(context.Background(), f); err == nil || !strings.Contains(err.Error(), "unit nginx not found") {
		t.Errorf("err = %v", err)
	}
	f = &fake{res: transport.Result{ExitCode: 1, Stderr: []byte("Job for nginx.service failed")}}
	if err := s.Apply(context.Background(), f); err == nil || !strings.Contains(err.Error(), "Job for nginx.service failed") {
		t.Errorf("err = %v", err)
	}
}

func TestArgErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"no name":     {map[string]cty.Value{"state": cty.StringVal("started")}, `needs the argument "name"`},
		"nothing":     {map[string]cty.Value{"name": cty.StringVal("x")}, "Give state, enabled, or both"},
		"bad state":   {map[string]cty.Value{"name": cty.StringVal("x"), "state": cty.StringVal("running")}, "must be one of"},
		"bad enabled": {map[string]cty.Value{"name": cty.StringVal("x"), "enabled": cty.StringVal("sometimes")}, `"enabled"`},
		"bad name":    {map[string]cty.Value{"name": cty.StringVal("a b"), "enabled": cty.True}, "not a systemd unit name"},
		"unsupported": {map[string]cty.Value{"name": cty.StringVal("x"), "enabled": cty.True, "pattern": cty.StringVal("x")}, `no argument named "pattern"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("service", "s", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
		})
	}
}

// The probe asks is-enabled only where show's UnitFileState cannot tell
// (a SysV script's "generated"), and its answer is the one Check uses.
func TestProbeAsksIsEnabledForSysVScripts(t *testing.T) {
	s := build(t, map[string]cty.Value{"state": cty.StringVal("started"), "enabled": cty.True})
	for _, tc := range []struct {
		unitfile, enabled string
		isEnabledCalled   bool
		change            bool
	}{
		{"", "enabled", false, false},
		{"generated", "disabled", true, true},
		{"generated", "enabled", true, false},
	} {
		f := fakeUnit(t, unit{"loaded", "active", tc.enabled})
		if tc.unitfile != "" {
			f.Write(t, "unitfile", tc.unitfile+"\n")
		}
		res, err := (&transporttest.Local{}).Run(context.Background(), s.Probe())
		if err != nil {
			t.Fatal(err)
		}
		called := false
		for _, c := range f.Calls(t) {
			called = called || strings.HasPrefix(c, "systemctl is-enabled")
		}
		if called != tc.isEnabledCalled {
			t.Errorf("UnitFileState %q: is-enabled called = %v, want %v", tc.unitfile, called, tc.isEnabledCalled)
		}
		ch, err := s.Check(module.Probed{Stdout: res.Stdout})
		if err != nil || (ch != nil) != tc.change {
			t.Errorf("UnitFileState %q, is-enabled %q: change %+v, %v", tc.unitfile, tc.enabled, ch, err)
		}
	}
}
