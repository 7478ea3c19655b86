package template

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/pki"
)

// fuzzSecret is every secret's value: no diagnostic may contain it.
const fuzzSecret = "Tr0ub4dor-fuzz-secret"

const fuzzInventory = `defaults {
  vars = {
    domain = "www.example.com"
    app_port = 8080
    app_version = "1.2.3"
    sumo_url = "https://sumo.example"
    admin_cidrs = ["203.0.113.0/24"]
    limits = { nofile = 4096, procs = 64 }
  }
}
host "web1" {
  address = "10.0.0.1"
  groups = ["lb", "web"]
}
host "db1" {
  address = "10.0.0.2"
  groups = ["db_primary"]
}
`

// fuzzContext is the evaluation context the engine gives a task of a role
// on web1 in validate mode (local side effects replaced by unknowns), with
// known facts.
func fuzzContext(f *testing.F, dir string) *hcl.EvalContext {
	p := filepath.Join(dir, "inv.hcl")
	if err := os.WriteFile(p, []byte(fuzzInventory), 0o644); err != nil {
		f.Fatal(err)
	}
	cfg, diags := config.NewLoader().LoadInventory(p)
	if diags.HasErrors() {
		f.Fatal(diags)
	}
	inv := inventory.New(cfg)
	secrets := map[string]string{"app_db_password": fuzzSecret, "sumo_access_id": fuzzSecret, "sumo_access_key": fuzzSecret}
	extra := map[string]cty.Value{"nginx_port": cty.StringVal("8443")}
	scope := engine.NewScope(inv, secrets, extra, pki.Functions(pki.Lazy(filepath.Join(dir, "pki")))).Offline()
	role := &config.Role{Name: "fuzz", Dir: dir, Variables: []*config.Variable{
		{Name: "listen_port", Default: cty.NumberIntVal(80)},
		{Name: "greeting", Default: cty.StringVal("hello")},
		{Name: "sumo_category", Default: cty.NullVal(cty.String)},
	}}
	play := &config.Play{Name: "web", Vars: map[string]cty.Value{"names": cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")})}}
	facts := cty.ObjectVal(map[string]cty.Value{
		"hostname": cty.StringVal("web1"), "os_id": cty.StringVal("debian"),
		"cpus": cty.NumberIntVal(2), "memory_mb": cty.NumberIntVal(1024),
	})
	return scope.Context(inv.Host("web1"), role, play, facts)
}

func FuzzRenderTemplate(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "..", "roles", "*", "templates", "*"))
	if len(paths) == 0 {
		f.Fatal("no seed templates")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"${",
		"%{ if var.x }",
		"%{ for h in groups.web ~}${h.name} %{ endfor }",
		"%{ for k, v in var.limits }${k}=${v}\n%{ endfor }",
		"${upper(host.name)} ${facts.cpus * 2} ${var.names[5]}",
		"${nosuch(1)} ${var.nosuch}",
		"${secret.app_db_password} ${sensitive(var.app_port)}",
		"${regex(secret.app_db_password, \"x\")} ${jsondecode(secret.app_db_password)}",
		"${jsonencode({for x in [secret.app_db_password, secret.app_db_password] : x => 1})}",
		"${var.limits[secret.app_db_password]} ${secret.app_db_password.x} ${secret.app_db_password[0]}",
		"%{ if secret.app_db_password }x%{ endif }${secret.app_db_password ? 1 : 2}${-secret.app_db_password}",
		"%{ for x in secret.app_db_password }%{ endfor }${[for x in secret.app_db_password : x]}",
		"${tls_cert(host.name, [var.domain], [host.address]).cert}",
		"${var.sumo_category} ${var.limits}",
		"%{ if true }a%{ else }b%{ endif }%{",
		"${\"\\u{fffff}\"} \xff\xfe",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	ctx := fuzzContext(f, dir)
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		f.Fatal(err)
	}
	src := filepath.Join(dir, "templates", "fuzz.tftpl")
	f.Fuzz(func(t *testing.T, text []byte) {
		if err := os.WriteFile(src, text, 0o644); err != nil {
			t.Fatal(err)
		}
		rng := hcl.Range{Filename: filepath.Join(dir, "role.hcl"), Start: hcl.InitialPos, End: hcl.InitialPos}
		a := module.NewArgs("template", "fuzz", rng, map[string]module.Attr{
			"source": {Value: cty.StringVal("fuzz.tftpl"), Range: rng},
			"path":   {Value: cty.StringVal("/etc/fuzz.conf"), Range: rng},
		})
		a.RoleDir, a.Eval = dir, ctx
		New(a)
		diags := a.Finish()
		for _, d := range diags {
			if d.Severity == hcl.DiagError && (d.Subject == nil || d.Subject.Filename == "") {
				t.Fatalf("error without a source range: %s: %s", d.Summary, d.Detail)
			}
			// HCL's own duplicate-key message quotes the key: only
			// RedactDiagnostics, below, hides that one.
			if strings.Contains(d.Summary+d.Detail, fuzzSecret) && d.Summary != "Duplicate object key" {
				t.Fatalf("a diagnostic shows the secret: %s: %s", d.Summary, d.Detail)
			}
		}
		for _, d := range config.RedactDiagnostics(diags, map[string]string{"s": fuzzSecret}) {
			if strings.Contains(d.Summary+d.Detail, fuzzSecret) {
				t.Fatalf("a redacted diagnostic shows the secret: %s: %s", d.Summary, d.Detail)
			}
		}
	})
}
