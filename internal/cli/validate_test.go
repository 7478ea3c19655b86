package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A valid site, which each case breaks in one place.
func baseFiles() map[string]string {
	return map[string]string{
		"inv.hcl": `defaults {
  user = "deploy"
}
host "web1" {
  address = "10.0.0.1"
  groups  = ["web"]
}
secret "db_password" { env = "SKIFF_TEST_DB_PASSWORD" }
`,
		"playbooks/site.hcl": `play "web" { hosts = "web"  roles = ["site"]  serial = 1 }
`,
		"roles/site/role.hcl": `variable "port" { default = 80 }
task "template" "conf" {
  source = "conf.tftpl"
  path   = "/etc/site.conf"
  mode   = "0644"
}
task "service" "nginx" { name = "nginx"  state = "started" }
`,
		"roles/site/templates/conf.tftpl": "port ${var.port} on ${host.name}\n",
	}
}

func runValidate(t *testing.T, files map[string]string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	code := Main([]string{"validate", "-i", filepath.Join(dir, "inv.hcl"), filepath.Join(dir, "playbooks/site.hcl")}, strings.NewReader(""), &out, &errb)
	return code, out.String(), strings.ReplaceAll(errb.String(), dir+"/", "")
}

func TestValidateAcceptsTheBase(t *testing.T) {
	t.Setenv("SKIFF_TEST_DB_PASSWORD", "s3cret")
	code, out, errs := runValidate(t, baseFiles())
	if code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
}

func TestValidateDiagnostics(t *testing.T) {
	cases := []struct {
		name string
		file string // file to replace
		edit func(string) string
		want []string // substrings of stderr, the location first
	}{
		{"syntax error", "inv.hcl", func(s string) string { return s + "host \"x\" {\n  address = \n}\n" },
			[]string{"inv.hcl:10:13:", "Invalid expression"}},
		{"unknown block", "inv.hcl", func(s string) string { return s + "hots \"web2\" {\n}\n" },
			[]string{"inv.hcl:9:1:", "Unsupported block type", `hots "web2" {`}},
		{"unknown attribute in a play", "playbooks/site.hcl", func(s string) string {
			return strings.Replace(s, "serial = 1", "serail = 1", 1)
		}, []string{"playbooks/site.hcl:1:", "serail"}},
		{"unknown task argument", "roles/site/role.hcl", func(s string) string {
			return strings.Replace(s, `mode   = "0644"`, `mode   = "0644"
  owner_name = "root"`, 1)
		}, []string{"roles/site/role.hcl:6:", "owner_name"}},
		{"duplicate host", "inv.hcl", func(s string) string { return s + "host \"web1\" {\n  address = \"10.0.0.9\"\n}\n" },
			[]string{"inv.hcl:9:6:", "Duplicate host", "web1", "inv.hcl:4"}},
		{"unknown group", "playbooks/site.hcl", func(s string) string { return strings.Replace(s, `hosts = "web"`, `hosts = "wbe"`, 1) },
			[]string{"playbooks/site.hcl:1:", `"wbe" names no host or group`}},
		{"missing role", "playbooks/site.hcl", func(s string) string { return strings.Replace(s, `["site"]`, `["site", "nope"]`, 1) },
			[]string{"playbooks/site.hcl:1:", `Role "nope" was not found`}},
		{"missing template", "roles/site/role.hcl", func(s string) string { return strings.Replace(s, "conf.tftpl", "cnof.tftpl", 1) },
			[]string{"roles/site/role.hcl:3:", "cnof.tftpl"}},
		{"undefined variable", "roles/site/templates/conf.tftpl", func(s string) string { return strings.Replace(s, "var.port", "var.prot", 1) },
			[]string{"roles/site/templates/conf.tftpl:1:", "prot"}},
		{"bad mode string", "roles/site/role.hcl", func(s string) string { return strings.Replace(s, `"0644"`, `"rw-r--r--"`, 1) },
			[]string{"roles/site/role.hcl:5:", "rw-r--r--", "octal"}},
		{"unknown task kind", "roles/site/role.hcl", func(s string) string { return strings.Replace(s, `task "service"`, `task "servic"`, 1) },
			[]string{"roles/site/role.hcl:7:", `no task kind "servic"`}},
		{"bad port", "inv.hcl", func(s string) string { return strings.Replace(s, `user = "deploy"`, `port = 70000`, 1) },
			[]string{"inv.hcl:2:", "70000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SKIFF_TEST_DB_PASSWORD", "s3cret")
			files := baseFiles()
			files[c.file] = c.edit(files[c.file])
			code, out, errs := runValidate(t, files)
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic") {
				t.Errorf("stack trace in output:\n%s", errs)
			}
		})
	}
}

// validate needs no secret's value; plan reads only the secrets its plays
// use, and one it cannot read names the task that needs it.
func TestSecretsReadOnlyWhereUsed(t *testing.T) {
	os.Unsetenv("SKIFF_TEST_DB_PASSWORD")
	files := baseFiles()
	files["roles/site/templates/conf.tftpl"] += "password ${secret.db_password}\n"
	if code, out, errs := runValidate(t, files); code != 0 {
		t.Errorf("validate without the secret: exit %d\n%s%s", code, out, errs)
	}
	for name, edit := range map[string]func(string) string{
		"env unset": func(s string) string { return s },
		"file missing": func(s string) string {
			return strings.Replace(s, `env = "SKIFF_TEST_DB_PASSWORD"`, `file = "nope.txt"`, 1)
		},
		"age missing": func(s string) string {
			return strings.Replace(s, `env = "SKIFF_TEST_DB_PASSWORD"`, `age = "secrets.age"`, 1)
		},
	} {
		files := baseFiles()
		files["inv.hcl"] = edit(files["inv.hcl"])
		files["roles/site/templates/conf.tftpl"] += "password ${secret.db_password}\n"
		code, _, errs := runPlanArgs(t, files)
		if code != 1 || !strings.Contains(errs, "inv.hcl:9:1: error: Missing secret: Secret \"db_password\"") ||
			!strings.Contains(errs, "Needed by task template.conf (roles/site/role.hcl:2:1).") {
			t.Errorf("%s: plan: exit %d, stderr:\n%s", name, code, errs)
		}
	}
	// A playbook that reads no secret plans without it: the run goes on to
	// the host (a closed port here).
	code, _, errs := runPlanArgs(t, baseFiles())
	if code == 0 || strings.Contains(errs, "secret") {
		t.Errorf("plan of a playbook that reads no secret: exit %d, stderr:\n%s", code, errs)
	}
}

func TestNoInventoryNoDefault(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"plan", "playbooks/site.hcl"}, strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "inventory") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
