package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/secret"
)

var roleKinds = map[string]bool{"command": true, "file": true, "directory": true, "template": true, "symlink": true, "service": true, "user": true, "group": true}

// roleContext is the evaluation context of r's tasks with its defaults
// overridden by vars.
func roleContext(r *Role, vars map[string]cty.Value) *hcl.EvalContext {
	all := map[string]cty.Value{}
	for _, v := range r.Variables {
		all[v.Name] = v.Default
	}
	for k, v := range vars {
		all[k] = v
	}
	ctx := Functions()
	ctx.Variables = map[string]cty.Value{"var": cty.ObjectVal(all)}
	return ctx
}

// The shipped app role takes a release label as app_version, and says
// where and why it refuses anything else.
func TestAppVersionIsAReleaseLabel(t *testing.T) {
	dir, err := filepath.Abs("../../roles/app")
	if err != nil {
		t.Fatal(err)
	}
	r, diags := NewLoader().LoadRole("app", dir, roleKinds)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, good := range []string{"dev", "1.0.0", "2.1.0-rc.1+build_7", "v20", "A"} {
		if d := r.CheckVariables(roleContext(r, map[string]cty.Value{"app_version": cty.StringVal(good)})); d.HasErrors() {
			t.Errorf("app_version %q refused: %s", good, d.Error())
		}
	}
	for _, bad := range []string{"1.0'; touch /tmp/x; '", "..", ".", "-rf", "1.0\nx", "", "a b", "1.0/../..", "$(id)", "1.0`id`"} {
		d := r.CheckVariables(roleContext(r, map[string]cty.Value{"app_version": cty.StringVal(bad)}))
		if len(d) != 1 || !d.HasErrors() {
			t.Errorf("app_version %q: want one error, got %v", bad, d)
			continue
		}
		msg, at := d[0].Detail, d[0].Subject
		if at == nil || at.Filename != filepath.Join(dir, "role.hcl") || at.Start.Line < 1 {
			t.Errorf("app_version %q: the error is not located in roles/app/role.hcl: %v", bad, at)
		}
		if !strings.Contains(msg, "release label") || !strings.Contains(msg, "var.app_version is ") {
			t.Errorf("app_version %q: unclear message %q", bad, msg)
		}
	}
	// Numbers are labels too (-e gives strings, an inventory may not).
	if d := r.CheckVariables(roleContext(r, map[string]cty.Value{"app_version": cty.NumberIntVal(2)})); d.HasErrors() {
		t.Errorf("app_version 2 refused: %s", d.Error())
	}
	if d := r.CheckVariables(roleContext(r, map[string]cty.Value{"keep_releases": cty.StringVal("5; reboot")})); !d.HasErrors() {
		t.Error("keep_releases \"5; reboot\" accepted")
	}
}

func loadTestRole(t *testing.T, src string) (*Role, hcl.Diagnostics) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "role.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return NewLoader().LoadRole("r", dir, roleKinds)
}

func TestValidationBlocks(t *testing.T) {
	r, diags := loadTestRole(t, `
variable "port" {
  default = 80
  validation {
    condition     = var.port > 0 && var.port < 65536
    error_message = "port must be a TCP port."
  }
}
variable "token" {
  validation {
    condition     = strlen(var.token) > 8
    error_message = "token is too short."
  }
}
`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if d := r.CheckVariables(roleContext(r, map[string]cty.Value{"token": cty.StringVal("long enough")})); d.HasErrors() {
		t.Errorf("valid values refused: %s", d.Error())
	}
	d := r.CheckVariables(roleContext(r, map[string]cty.Value{"port": cty.NumberIntVal(70000), "token": secret.Wrap(cty.StringVal("hunter2"))}))
	if len(d) != 2 {
		t.Fatalf("want 2 errors, got %v", d)
	}
	if !strings.Contains(d[0].Detail, "port must be a TCP port. Here var.port is 70000.") || d[0].Subject.Start.Line != 5 {
		t.Errorf("port: %s at %v", d[0].Detail, d[0].Subject)
	}
	if strings.Contains(d[1].Detail, "hunter2") || !strings.Contains(d[1].Detail, "var.token is (sensitive)") {
		t.Errorf("token: %s", d[1].Detail)
	}
	// A condition on values not known yet (validate, before facts) waits.
	if d := r.CheckVariables(roleContext(r, map[string]cty.Value{"token": cty.UnknownVal(cty.String)})); d.HasErrors() {
		t.Errorf("unknown value refused: %s", d.Error())
	}
}

func TestValidationBlockErrors(t *testing.T) {
	for name, c := range map[string]struct{ src, want string }{
		"no condition": {`variable "a" {
  validation { error_message = "x" }
}`, `"condition" is required`},
		"message from a variable": {`variable "a" {
  validation {
    condition     = true
    error_message = "bad ${var.a}"
  }
}`, "error_message is a non-empty string written out"},
		"other block": {`variable "a" {
  check { condition = true }
}`, `Unexpected "check" block`},
		"labelled validation": {`variable "a" {
  validation "x" {
    condition     = true
    error_message = "x"
  }
}`, `Unexpected "validation" block`},
		"unknown argument": {`variable "a" { defualt = 1 }`, `no argument "defualt"`},
	} {
		_, diags := loadTestRole(t, c.src)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), c.want) {
			t.Errorf("%s: want an error with %q, got %v", name, c.want, diags)
		}
	}
	r, diags := loadTestRole(t, `variable "a" {
  default = 1
  validation {
    condition     = var.a
    error_message = "x"
  }
}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if d := r.CheckVariables(roleContext(r, nil)); !d.HasErrors() || !strings.Contains(d.Error(), "must be true or false") {
		t.Errorf("a number as condition: %v", d)
	}
}
