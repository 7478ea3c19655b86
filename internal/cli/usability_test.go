package cli

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// A misspelt name in a role, playbook or on the command line is reported
// at its file:line:col with the name it most likely meant.
func TestDidYouMean(t *testing.T) {
	t.Setenv("SKIFF_TEST_DB_PASSWORD", "s3cret")
	for _, c := range []struct {
		name       string
		file, a, b string
		args       []string
		want       string
	}{
		{"kind", "roles/site/role.hcl", `task "service" "nginx"`, `task "servcie" "nginx"`, nil,
			`roles/site/role.hcl:7:6: error: Unknown task kind: There is no task kind "servcie". Did you mean "service"?`},
		{"argument", "roles/site/role.hcl", `state = "started"`, `state = "started"  enabeld = true`, nil,
			`roles/site/role.hcl:7:61: error: Unsupported argument: The service task "nginx" has no argument named "enabeld". Did you mean "enabled"?`},
		{"handler", "roles/site/role.hcl", `mode   = "0644"`, "mode   = \"0644\"\n  notify = [\"relaod\"]", nil,
			`roles/site/role.hcl:6:13: error: Unknown handler: Task template.conf notifies "relaod", but role "site" has no handler of that name. Did you mean "reload"?`},
		{"variable", "roles/site/templates/conf.tftpl", `${var.port}`, `${var.prot}`, nil,
			`roles/site/templates/conf.tftpl:1:11: error: Unknown variable: There is no variable named "prot". Did you mean "port"?`},
		{"play hosts", "playbooks/site.hcl", `hosts = "web"`, `hosts = "wbe"`, nil,
			`playbooks/site.hcl:1:22: error: Unknown hosts: Play "web": "wbe" names no host or group of inv.hcl (did you mean "web"? groups: web, all).`},
		{"limit", "inv.hcl", "", "", []string{"--limit", "wbe1"},
			`--limit: "wbe1" names no host or group of inv.hcl (did you mean "web1"? groups: web, all)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := baseFiles()
			files["roles/site/role.hcl"] += `handler "service" "reload" { name = "nginx"  state = "reloaded" }` + "\n"
			if c.a != "" {
				if !strings.Contains(files[c.file], c.a) {
					t.Fatalf("%s lacks %q", c.file, c.a)
				}
				files[c.file] = strings.Replace(files[c.file], c.a, c.b, 1)
			}
			code, _, errs := runValidateArgs(t, files, c.args...)
			if code != 1 || !strings.Contains(errs, c.want) {
				t.Errorf("exit %d, want 1 and %q in:\n%s", code, c.want, errs)
			}
		})
	}
}

// A run from cron or a systemd timer reads /dev/null, a character device
// but no terminal: apply must ask for --yes, not read "no" from it.
func TestDevNullIsNoTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	var out, errb bytes.Buffer
	code := Main([]string{"apply", "-i", "inv.hcl", "playbooks/site.hcl"}, null, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "no terminal to ask on: pass --yes") {
		t.Errorf("apply </dev/null: exit %d\n%s", code, errb.String())
	}
}

// exec on a host it cannot reach reports no exit code (the command never
// ran) and exits 1.
func TestExecUnreachableHasNoExitCode(t *testing.T) {
	dir := t.TempDir()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "id"), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "inv.hcl")
	if err := os.WriteFile(inv, []byte("host \"web1\" {\n  address     = \"127.0.0.1\"\n  port        = 1\n  private_key = \"id\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := Main([]string{"exec", "-i", inv, "--", "true"}, strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.HasPrefix(out.String(), "web1 | unreachable\n") {
		t.Errorf("exec: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	code = Main([]string{"exec", "-i", inv, "-o", "json", "--", "true"}, strings.NewReader(""), &out, &errb)
	var doc struct {
		Hosts []map[string]any `json:"hosts"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || code != 1 || len(doc.Hosts) != 1 {
		t.Fatalf("exec -o json: exit %d, %v\n%s", code, err, out.String())
	}
	if v, ok := doc.Hosts[0]["exit_code"]; !ok || v != nil || doc.Hosts[0]["status"] != "unreachable" {
		t.Errorf("exec -o json: host %v, want status unreachable and exit_code null", doc.Hosts[0])
	}
}

// -e takes an HCL list; a --var-file name that nothing reads is a warning
// at its line, and validate still passes.
func TestVarFileAndListValues(t *testing.T) {
	t.Setenv("SKIFF_TEST_DB_PASSWORD", "s3cret")
	files := baseFiles()
	files["roles/site/role.hcl"] += `variable "cidrs" { default = [] }
task "command" "allow" {
  command = "echo ${join(" ", var.cidrs)}"
  unless  = "true"
}
`
	if code, _, errs := runValidateArgs(t, files, "-e", `cidrs=["198.51.100.0/24", "203.0.113.0/24"]`); code != 0 {
		t.Fatalf("-e with a list: exit %d\n%s", code, errs)
	}
	if code, _, errs := runValidateArgs(t, files, "-e", `cidrs=198.51.100.0/24`); code != 1 || !strings.Contains(errs, "list") {
		t.Errorf("-e with a string where a list is needed: exit %d\n%s", code, errs)
	}
	varFile := filepath.Join(t.TempDir(), "vars.hcl")
	if err := os.WriteFile(varFile, []byte("port  = 8080\nprot  = 1\ncidrs = [\"10.0.0.0/8\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runValidateArgs(t, files, "--var-file", varFile)
	if want := varFile + ":2:1: warning: Undeclared variable: No play, role or inventory of this run declares or reads var.prot, so this value changes nothing. Did you mean port?"; code != 0 || !strings.Contains(errs, want) {
		t.Errorf("--var-file: exit %d, want 0 and %q\n%s%s", code, want, out, errs)
	}
	if code, _, errs := runValidateArgs(t, files, "--var-file", varFile+".missing"); code != 1 || !strings.Contains(errs, "vars.hcl.missing") {
		t.Errorf("a missing var file: exit %d\n%s", code, errs)
	}
}

// Under --output json every outcome is one JSON document on stdout: a
// valid configuration, a configuration error (its diagnostics as objects,
// with file, line and column) and bad flags alike.
func TestValidateJSON(t *testing.T) {
	t.Setenv("SKIFF_TEST_DB_PASSWORD", "s3cret")
	type doc struct {
		FormatVersion int    `json:"format_version"`
		Mode          string `json:"mode"`
		Valid         bool   `json:"valid"`
		Tasks         int    `json:"tasks"`
		Error         string `json:"error"`
		Diagnostics   []struct {
			Severity, Summary, Detail string
			Range                     *struct {
				File         string
				Line, Column int
			}
		} `json:"diagnostics"`
	}
	parse := func(t *testing.T, out string) doc {
		t.Helper()
		var d doc
		if err := json.Unmarshal([]byte(out), &d); err != nil || d.FormatVersion != 1 {
			t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
		}
		return d
	}
	code, out, errs := runValidateArgs(t, baseFiles(), "-o", "json")
	if d := parse(t, out); code != 0 || d.Mode != "validate" || !d.Valid || d.Tasks != 2 || len(d.Diagnostics) != 0 {
		t.Errorf("valid: exit %d, %+v\n%s", code, d, errs)
	}
	files := baseFiles()
	files["roles/site/role.hcl"] = strings.Replace(files["roles/site/role.hcl"], `task "service"`, `task "servcie"`, 1)
	code, out, _ = runValidateArgs(t, files, "-o", "json")
	d := parse(t, out)
	if code != 1 || d.Error == "" || len(d.Diagnostics) != 1 {
		t.Fatalf("invalid: exit %d, %+v", code, d)
	}
	if g := d.Diagnostics[0]; g.Severity != "error" || g.Summary != "Unknown task kind" || g.Range == nil ||
		!strings.HasSuffix(g.Range.File, "roles/site/role.hcl") || g.Range.Line != 7 || g.Range.Column != 6 {
		t.Errorf("diagnostic: %+v %+v", g, g.Range)
	}
	code, out, _ = runValidateArgs(t, baseFiles(), "--no-such-flag", "-o", "json")
	if d := parse(t, out); code != 1 || !strings.Contains(d.Error, "no-such-flag") {
		t.Errorf("bad flag: exit %d, %+v", code, d)
	}
}

// skiff completion prints shell scripts; --limit completes the inventory's
// hosts and groups, after what is typed before the last comma.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out, errb bytes.Buffer
		if code := Main([]string{"completion", sh}, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), "skiff") {
			t.Errorf("completion %s: exit %d\n%s", sh, code, errb.String())
		}
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "inv.hcl")
	os.WriteFile(inv, []byte("host \"web1\" {\n  address = \"10.0.0.1\"\n  groups  = [\"web\"]\n}\nhost \"db1\" {\n  address = \"10.0.0.2\"\n}\n"), 0o644)
	var out, errb bytes.Buffer
	Main([]string{"__complete", "plan", "-i", inv, "--limit", "web,"}, strings.NewReader(""), &out, &errb)
	for _, want := range []string{"web,db1\n", "web,!web1\n", "web,all\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--limit completion lacks %q:\n%s", want, out.String())
		}
	}
}

// inventory --host shows a host's merged variables, each with the level
// that set it and where, one-line blocks and sensitive values included.
func TestInventoryHost(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inv.hcl")
	src := `defaults {
  vars = {
    port   = 80
    domain = "example.com"
  }
}
group "web" { vars = { port = 8080 } }
host "web1" {
  address = "10.0.0.1"
  groups  = ["web"]
  vars    = { token = sensitive("t0ps3cret"), cidrs = ["10.0.0.0/8"] }
}
`
	if err := os.WriteFile(inv, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"inventory", "-i", inv, "--host", "web1", "-o", "json"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	var doc struct {
		Vars map[string]struct {
			Value     any
			Sensitive bool
			Level     string
			From      string
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"port":   "8080 group web " + inv + ":7:24",
		"domain": "example.com defaults " + inv + ":4:5",
		"token":  "(sensitive) host web1 " + inv + ":11:15",
		"cidrs":  "[10.0.0.0/8] host web1 " + inv + ":11:47",
	} {
		v := doc.Vars[name]
		if got := fmt.Sprint(v.Value, " ", v.Level, " ", v.From); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if strings.Contains(out.String(), "t0ps3cret") || !doc.Vars["token"].Sensitive {
		t.Errorf("the sensitive value shows:\n%s", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := Main([]string{"inventory", "-i", inv, "--host", "wbe1"}, strings.NewReader(""), &out, &errb); code != 1 || !strings.Contains(errb.String(), `Did you mean "web1"?`) {
		t.Errorf("unknown host: exit %d\n%s", code, errb.String())
	}
}

// -vv prints each connection and each script sent to a host, with the
// run's secrets hidden even where a script holds one.
func TestVeryVerboseTracesScripts(t *testing.T) {
	dir, _ := savedSite(t)
	role := filepath.Join(dir, "roles/app/role.hcl")
	src, _ := os.ReadFile(role)
	src = append(src, "task \"command\" \"check\" {\n  command = \"true\"\n  unless  = \"test ${shellquote(secret.pw)} = x\"\n}\n"...)
	if err := os.WriteFile(role, src, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runSkiff(t, "plan", "-vv", "-i", filepath.Join(dir, "inv.hcl"), filepath.Join(dir, "playbooks/site.hcl"), "--no-probe-helper")
	if code != 0 {
		t.Fatalf("plan -vv: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"web1: connect to ", "web1: connected in ", "web1: run (", `eval 'test '\''(sensitive)'\'' = x'`, "web1: exit 0 after "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-vv output lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stdout+stderr, "hunter2") {
		t.Errorf("-vv shows the secret")
	}
	code, _, stderr = runSkiff(t, "plan", "-v", "-i", filepath.Join(dir, "inv.hcl"), filepath.Join(dir, "playbooks/site.hcl"), "--no-probe-helper")
	if code != 0 || strings.Contains(stderr, "web1: run (") {
		t.Errorf("plan -v traces scripts (exit %d):\n%s", code, stderr)
	}
}
