package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// extraVarsSite writes a site whose names each come from one place, and
// loads it.
func extraVarsSite(t *testing.T, edit map[string]string) (*Inventory, *Playbook) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"inv.hcl": `defaults {
  vars = { site_domain = "example.com" }
}
group "web" { vars = { group_port = 8080 } }
host "web1" {
  address = "10.0.0.1"
  groups  = ["web"]
  vars    = { host_weight = 3 }
}
secret "db_password" { env = "SKIFF_TEST_UNUSED" }
`,
		"playbooks/site.hcl": `play "web" {
  hosts = "web"
  roles = ["app"]
  vars  = { play_limit = 5 }
}
`,
		"roles/app/role.hcl": `variable "app_version" { default = "dev" }
variable "checked" {
  default = "x"
  validation {
    condition     = var.checked != var.validation_only
    error_message = "no."
  }
}
task "file" "binary" {
  source = abspath(var.app_binary)
  path   = "/opt/app"
  when   = var["indexed_name"] != ""
}
task "template" "env" {
  source = "env.tftpl"
  path   = "/etc/app.env"
}
task "template" "unit" {
  source = "` + filepath.Join(dir, "elsewhere", "unit.tftpl") + `"
  path   = "/etc/app.service"
}
handler "command" "restart" {
  command = "systemctl restart ${var.handler_unit}"
}
`,
		"roles/app/templates/env.tftpl":        "VERSION=${var.app_version}\n%{ if var.template_flag }X=1%{ endif }\n",
		"roles/app/templates/sub/extra.tftpl":  "${var.nested_template}\n",
		"elsewhere/unit.tftpl":                 "ExecStart=${var.absolute_template}\n",
		"roles/unused/role.hcl":                `variable "unused_role_var" { default = 1 }` + "\n",
		"roles/unused/templates/never.tftpl":   "${var.unused_template}\n",
		"roles/app/templates/plain-no-var.txt": "no variables here\n",
	}
	for name, content := range edit {
		files[name] = content
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := NewLoader()
	inv, diags := l.LoadInventory(filepath.Join(dir, "inv.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	pb, diags := l.LoadPlaybook(filepath.Join(dir, "playbooks/site.hcl"), nil, map[string]bool{"file": true, "template": true, "command": true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return inv, pb
}

// Every name a play, role or inventory of the run sets or reads may be
// given with -e; a name read but declared nowhere (app_binary, read by an
// expression only) is one of them.
func TestExtraVarsAcceptsWhatTheRunSetsOrReads(t *testing.T) {
	inv, pb := extraVarsSite(t, nil)
	names := []string{
		"app_version", "checked", // variable blocks
		"validation_only",                            // a validation condition
		"app_binary", "indexed_name", "handler_unit", // task, when and handler expressions
		"template_flag", "nested_template", "absolute_template", // templates
		"play_limit", "site_domain", "group_port", "host_weight", // play and inventory vars
	}
	if d := CheckExtraVars(named(names...), inv, pb); len(d) > 0 {
		t.Fatalf("refused: %s", d.Error())
	}
}

// A name nothing of the run sets or reads is an error that names the -e
// flag and suggests the nearest known name; a role the playbook does not
// use, and an inventory secret, declare nothing.
func TestExtraVarsRefusesWhatNothingReads(t *testing.T) {
	inv, pb := extraVarsSite(t, nil)
	cases := []struct {
		name string
		want []string
		not  []string
	}{
		{"app_verison", []string{"-e app_verison:", "Did you mean app_version?"}, nil},
		{"app_binnary", []string{"-e app_binnary:", "Did you mean app_binary?"}, nil},
		{"host_wieght", []string{"Did you mean host_weight?"}, nil},
		{"unused_role_var", []string{"-e unused_role_var:"}, []string{"Did you mean"}},
		{"unused_template", []string{"-e unused_template:"}, []string{"Did you mean"}},
		{"release", []string{"-e release:"}, []string{"Did you mean"}},
		{"db_password", []string{"-e db_password:", "a secret of the inventory", "-e does not set secrets"}, []string{"Did you mean"}},
	}
	for _, c := range cases {
		d := CheckExtraVars(named("app_version", c.name), inv, pb)
		if len(d) != 1 || !d.HasErrors() {
			t.Errorf("-e %s: %d diagnostics, want one error: %s", c.name, len(d), d.Error())
			continue
		}
		msg := d[0].Summary + ": " + d[0].Detail
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("-e %s: %q lacks %q", c.name, msg, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(msg, n) {
				t.Errorf("-e %s: %q has %q", c.name, msg, n)
			}
		}
	}
}

// A role that reads var by a computed name may read any name: nothing is
// refused then, rather than something the role does read.
func TestExtraVarsComputedNameAcceptsAny(t *testing.T) {
	inv, pb := extraVarsSite(t, map[string]string{
		"roles/app/templates/sub/extra.tftpl": "${lookup(var, \"x_${host.name}\", \"\")}\n",
	})
	if d := CheckExtraVars(named("x_web1"), inv, pb); len(d) > 0 {
		t.Fatalf("refused: %s", d.Error())
	}
}

// A template that does not parse hides what it reads: when a task renders
// it, nothing is refused (validation reports the template); a stray file
// that no task names does not stop the check.
func TestExtraVarsBrokenTemplate(t *testing.T) {
	inv, pb := extraVarsSite(t, map[string]string{"roles/app/templates/env.tftpl": "VERSION=${var.app_version\n"})
	if d := CheckExtraVars(named("app_verison"), inv, pb); len(d) > 0 {
		t.Errorf("refused beside a broken template a task renders: %s", d.Error())
	}
	inv, pb = extraVarsSite(t, map[string]string{"roles/app/templates/.env.tftpl.swp": "${var.\x00"})
	if d := CheckExtraVars(named("app_verison"), inv, pb); len(d) != 1 {
		t.Errorf("a stray file stopped the check: %d diagnostics", len(d))
	}
}

// named makes -e variables of names, with empty values.
func named(names ...string) []ExtraVar {
	vars := make([]ExtraVar, len(names))
	for i, n := range names {
		vars[i] = ExtraVar{Name: n, Value: cty.StringVal("")}
	}
	return vars
}

// -e takes a string, or an HCL list, object or quoted string.
func TestParseExtraVar(t *testing.T) {
	for in, want := range map[string]cty.Value{
		"app_version=2.0.0":               cty.StringVal("2.0.0"),
		"port=8080":                       cty.StringVal("8080"), // converted where a number is needed
		"empty=":                          cty.StringVal(""),
		"spaced= a b ":                    cty.StringVal(" a b "),
		`admin_cidrs=["198.51.100.0/24"]`: cty.TupleVal([]cty.Value{cty.StringVal("198.51.100.0/24")}),
		`limits={ cpu = 2, name = "x" }`:  cty.ObjectVal(map[string]cty.Value{"cpu": cty.NumberIntVal(2), "name": cty.StringVal("x")}),
		`quoted="[not a list]"`:           cty.StringVal("[not a list]"),
		`with_eq=a=b`:                     cty.StringVal("a=b"),
	} {
		got, err := ParseExtraVar(in)
		if err != nil || !got.Value.RawEquals(want) {
			t.Errorf("ParseExtraVar(%q) = %#v, %v; want %#v", in, got.Value, err, want)
		}
	}
	for _, in := range []string{"noequals", "=x", "bad name=1", `list=["unclosed"`, `obj={ a = var.x }`} {
		if _, err := ParseExtraVar(in); err == nil {
			t.Errorf("ParseExtraVar(%q): no error", in)
		}
	}
}

// A var file sets literals in HCL or JSON; a name nothing reads there is a
// warning at its line, not an error.
func TestVarFile(t *testing.T) {
	inv, pb := extraVarsSite(t, nil)
	dir := t.TempDir()
	hclFile := filepath.Join(dir, "prod.hcl")
	os.WriteFile(hclFile, []byte("app_version = \"2.0.0\"\n\napp_verison = \"2.0.1\"\ncidrs = [\"10.0.0.0/8\"]\n"), 0o644)
	jsonFile := filepath.Join(dir, "prod.json")
	os.WriteFile(jsonFile, []byte(`{"app_version": "3.0.0", "group_port": 9090}`), 0o644)
	l := NewLoader()
	vars, diags := l.LoadVarFile(hclFile)
	if diags.HasErrors() || len(vars) != 3 || vars[0].Name != "app_version" || vars[1].Name != "app_verison" || !vars[2].Value.Type().IsTupleType() {
		t.Fatalf("HCL var file: %v %v", vars, diags)
	}
	d := CheckExtraVars(vars, inv, pb)
	if len(d) != 2 || d.HasErrors() {
		t.Fatalf("want two warnings (app_verison, cidrs), got %v", d)
	}
	if d[0].Subject == nil || d[0].Subject.Filename != hclFile || d[0].Subject.Start.Line != 3 || !strings.Contains(d[0].Detail, "Did you mean app_version?") {
		t.Errorf("warning for app_verison: %+v", d[0])
	}
	vars, diags = l.LoadVarFile(jsonFile)
	if diags.HasErrors() || len(vars) != 2 || !vars[1].Value.RawEquals(cty.NumberIntVal(9090)) {
		t.Fatalf("JSON var file: %v %v", vars, diags)
	}
	if d := CheckExtraVars(vars, inv, pb); len(d) != 0 {
		t.Errorf("JSON var file of known names: %v", d)
	}
	if _, diags := l.LoadVarFile(filepath.Join(dir, "nope.hcl")); !diags.HasErrors() {
		t.Errorf("a missing var file is no error")
	}
}
