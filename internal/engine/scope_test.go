package engine

import (
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/secret"
)

func TestVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	invPath := write(t, dir, "inv.hcl", `
defaults {
  vars = { a = "inventory-defaults", b = "inventory-defaults", c = "inventory-defaults", d = "inventory-defaults" }
}
group "web" {
  vars = { b = "group", c = "group", d = "group" }
}
host "web1" {
  address = "10.0.0.1"
  groups  = ["web"]
  vars    = { c = "host", d = "host" }
}
secret "pw" { env = "SKIFF_TEST_PW" }
`)
	t.Setenv("SKIFF_TEST_PW", "hunter2")
	l := config.NewLoader()
	cfg, diags := l.LoadInventory(invPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	secrets, diags := cfg.ResolveSecrets(nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	inv := inventory.New(cfg)
	role := &config.Role{Name: "r", Variables: []*config.Variable{
		{Name: "a", Default: cty.StringVal("role")}, {Name: "z", Default: cty.StringVal("role")},
	}}
	play := &config.Play{Name: "p", Vars: map[string]cty.Value{"d": cty.StringVal("play"), "e": cty.StringVal("play")}}
	scope := NewScope(inv, secrets, map[string]cty.Value{"e": cty.StringVal("extra")}, nil)
	ctx := scope.Context(inv.Host("web1"), role, play, cty.DynamicVal)
	vars := ctx.Variables["var"]
	want := map[string]string{"z": "role", "a": "inventory-defaults", "b": "group", "c": "host", "d": "play", "e": "extra"}
	for k, w := range want {
		if got := vars.GetAttr(k).AsString(); got != w {
			t.Errorf("var.%s = %q, want %q", k, got, w)
		}
	}
	pw := ctx.Variables["secret"].GetAttr("pw")
	if !secret.Is(pw) {
		t.Errorf("secret.pw is not marked sensitive")
	}
	web := ctx.Variables["groups"].GetAttr("web")
	if n := web.LengthInt(); n != 1 || web.Index(cty.NumberIntVal(0)).GetAttr("address").AsString() != "10.0.0.1" {
		t.Errorf("groups.web = %#v", web)
	}
}
