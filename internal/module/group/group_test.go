package group

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		action  plan.Action
		summary string
		script  string
	}{
		{name: "exists", vals: map[string]cty.Value{}, out: "group=app:x:990:alice,bob\n"},
		{name: "same gid", vals: map[string]cty.Value{"gid": cty.NumberIntVal(990)}, out: "group=app:x:990:\n"},
		{name: "create", vals: map[string]cty.Value{"gid": cty.NumberIntVal(990), "system": cty.True}, out: "group=\n",
			action: plan.Create, summary: "create group app", script: "groupadd -g 990 -r 'app'\n"},
		{name: "gid", vals: map[string]cty.Value{"gid": cty.NumberIntVal(991)}, out: "group=app:x:990:\n",
			action: plan.Update, summary: "update group app: gid 990 -> 991", script: "groupmod -g 991 'app'\n"},
		{name: "remove", vals: map[string]cty.Value{"state": cty.StringVal("absent")}, out: "group=app:x:990:\n",
			action: plan.Delete, summary: "remove group app", script: "groupdel 'app'\n"},
		{name: "already absent", vals: map[string]cty.Value{"state": cty.StringVal("absent")}, out: "group=\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.vals["name"] = cty.StringVal("app")
			g := moduletest.MustBuild(t, New, moduletest.Args("group", "g", tc.vals)).(*Group)
			ch, err := g.Check(module.Probed{Stdout: []byte(tc.out)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.action == "" {
				if ch != nil {
					t.Fatalf("unexpected change %+v", *ch)
				}
				return
			}
			if ch == nil || ch.Action != tc.action || ch.Summary != tc.summary || g.script != tc.script {
				t.Fatalf("change = %+v, script %q", ch, g.script)
			}
		})
	}
	g := moduletest.MustBuild(t, New, moduletest.Args("group", "g", map[string]cty.Value{"name": cty.StringVal("app")}))
	if _, err := g.Check(module.Probed{}); err == nil {
		t.Errorf("empty probe accepted")
	}
}

// TestLocalProbe runs the probe against this machine's root group.
func TestLocalProbe(t *testing.T) {
	g := moduletest.MustBuild(t, New, moduletest.Args("group", "g", map[string]cty.Value{"name": cty.StringVal("root"), "gid": cty.NumberIntVal(0)}))
	if ch := moduletest.Check(t, g); ch != nil {
		t.Errorf("change = %+v", ch)
	}
}

func TestArgErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"no name":     {map[string]cty.Value{}, `needs the argument "name"`},
		"bad name":    {map[string]cty.Value{"name": cty.StringVal("a:b")}, "not a valid group name"},
		"bad gid":     {map[string]cty.Value{"name": cty.StringVal("a"), "gid": cty.NumberFloatVal(1.5)}, "whole number"},
		"neg gid":     {map[string]cty.Value{"name": cty.StringVal("a"), "gid": cty.NumberIntVal(-1)}, "negative"},
		"bad state":   {map[string]cty.Value{"name": cty.StringVal("a"), "state": cty.StringVal("gone")}, "must be one of"},
		"unsupported": {map[string]cty.Value{"name": cty.StringVal("a"), "members": cty.StringVal("x")}, `no argument named "members"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("group", "g", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
			if strings.Contains(tc.want, "whole") && len(diags) != 1 {
				t.Errorf("diags = %v", diags)
			}
		})
	}
}
