package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// runValidateArgs is runValidate with extra command-line arguments.
func runValidateArgs(t *testing.T, files map[string]string, args ...string) (int, string, string) {
	t.Helper()
	return runSite(t, "validate", files, args...)
}

// runSite writes files to a folder of their own and runs skiff's command
// on its inv.hcl and playbooks/site.hcl, with args; stderr has the folder
// taken out of paths.
func runSite(t *testing.T, command string, files map[string]string, args ...string) (int, string, string) {
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
	argv := append([]string{command, "-i", filepath.Join(dir, "inv.hcl"), filepath.Join(dir, "playbooks/site.hcl")}, args...)
	code := Main(argv, strings.NewReader(""), &out, &errb)
	return code, out.String(), strings.ReplaceAll(errb.String(), dir+"/", "")
}

// replace returns an edit that replaces old (which must occur) by new.
func replace(old, new string) func(*testing.T, string) string {
	return func(t *testing.T, s string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("base file lacks %q", old)
		}
		return strings.Replace(s, old, new, 1)
	}
}

func appendText(extra string) func(*testing.T, string) string {
	return func(_ *testing.T, s string) string { return s + extra }
}

// TestBadInputs breaks the base site of validate_test.go in one place per
// case and checks the diagnostic: its location (file:line,col) first, then
// phrases of its message.
func TestBadInputs(t *testing.T) {
	type edit struct {
		file string
		fn   func(*testing.T, string) string
	}
	cases := []struct {
		name  string
		edits []edit
		args  []string // extra command-line arguments
		want  []string
		not   []string // must not appear (cascades, secrets)
	}{
		// Syntax.
		{"unterminated string", []edit{{"inv.hcl", replace(`address = "10.0.0.1"`, `address = "10.0.0.1`)}}, nil,
			[]string{"inv.hcl:5:22:", "Unterminated string", "no closing quote"}, []string{"inv.hcl:6:", "inv.hcl:8:", "multi-line"}},
		{"unterminated block", []edit{{"inv.hcl", appendText("host \"web2\" {\n  address = \"10.0.0.2\"\n")}}, nil,
			[]string{"inv.hcl:9:13:", "Unclosed configuration block"}, nil},
		{"unterminated interpolation in a template", []edit{{"roles/site/templates/conf.tftpl", replace("${host.name}", "${host.name")}}, nil,
			[]string{"roles/site/templates/conf.tftpl:1:", "Unclosed template interpolation"}, nil},

		// Inventory.
		{"host without address", []edit{{"inv.hcl", replace("  address = \"10.0.0.1\"\n", "")}}, nil,
			[]string{"inv.hcl:4:1:", "Missing address", `Host "web1" needs an address`}, nil},
		{"empty address", []edit{{"inv.hcl", replace(`"10.0.0.1"`, `"  "`)}}, nil,
			[]string{"inv.hcl:5:13:", "Empty address", `Host "web1" needs an address`}, nil},
		{"port out of range on a host", []edit{{"inv.hcl", replace(`groups  = ["web"]`, "groups  = [\"web\"]\n  port    = 0")}}, nil,
			[]string{"inv.hcl:7:13:", "Invalid port", "0 is not a TCP port (1-65535)"}, nil},
		{"port not a number", []edit{{"inv.hcl", replace(`user = "deploy"`, `port = "ssh"`)}}, nil,
			[]string{"inv.hcl:2:10:", "Invalid port", "port must be a number from 1 to 65535, not a string"}, nil},
		{"groups not a list", []edit{{"inv.hcl", replace(`["web"]`, `"web"`)}}, nil,
			[]string{"inv.hcl:6:13:", "Invalid groups", "groups must be a list of group names, not a string"}, nil},
		{"secret with env and file", []edit{{"inv.hcl", replace(`{ env = "SKIFF_TEST_DB_PASSWORD" }`, `{ env = "SKIFF_TEST_DB_PASSWORD"  file = "pw.txt" }`)}}, nil,
			[]string{"inv.hcl:8:1:", "Invalid secret", `Secret "db_password" sets env and file`, "exactly one of env, file or age"}, nil},
		{"secret with no source", []edit{{"inv.hcl", replace(`{ env = "SKIFF_TEST_DB_PASSWORD" }`, `{}`)}}, nil,
			[]string{"inv.hcl:8:1:", "Invalid secret", `Secret "db_password" needs one of env, file or age`}, nil},
		{"secret key without age", []edit{{"inv.hcl", replace(`env = "SKIFF_TEST_DB_PASSWORD"`, `env = "SKIFF_TEST_DB_PASSWORD"  key = "db"`)}}, nil,
			[]string{"inv.hcl:8:1:", "Invalid secret", "key and identity apply only to an age secret"}, nil},
		{"group lists an undeclared host", []edit{{"inv.hcl", appendText("group \"web\" {\n  hosts = [\"web1\", \"web9\"]\n}\n")}}, nil,
			[]string{"inv.hcl:10:20:", "Unknown host", `Group "web" lists host "web9", which no host block declares`}, nil},
		{"duplicate group", []edit{{"inv.hcl", appendText("group \"web\" {}\ngroup \"web\" {}\n")}}, nil,
			[]string{"inv.hcl:10:7:", "Duplicate group", `Group "web" was already declared at inv.hcl:9`}, nil},
		{"vars not an object", []edit{{"inv.hcl", replace(`user = "deploy"`, `vars = ["a"]`)}}, nil,
			[]string{"inv.hcl:2:10:", "Invalid vars", "vars must be an object", "not a list"}, nil},

		// Playbook.
		{"duplicate play", []edit{{"playbooks/site.hcl", appendText("play \"web\" { hosts = \"all\"  roles = [\"site\"] }\n")}}, nil,
			[]string{"playbooks/site.hcl:2:6:", "Duplicate play", `Play "web" was already declared at playbooks/site.hcl:1`}, nil},
		{"serial negative", []edit{{"playbooks/site.hcl", replace("serial = 1", "serial = -1")}}, nil,
			[]string{"playbooks/site.hcl:1:56:", "Invalid serial", "hosts per batch"}, nil},
		{"serial a string", []edit{{"playbooks/site.hcl", replace("serial = 1", `serial = "x"`)}}, nil,
			[]string{"playbooks/site.hcl:1:56:", "Invalid serial"}, nil},
		{"max_fail a string", []edit{{"playbooks/site.hcl", replace("serial = 1", `max_fail = "x"`)}}, nil,
			[]string{"playbooks/site.hcl:1:58:", "Invalid max_fail", "max_fail must be a whole number of failed hosts (-1: no limit), not a string"}, nil},
		{"max_fail below -1", []edit{{"playbooks/site.hcl", replace("serial = 1", `max_fail = -2`)}}, nil,
			[]string{"playbooks/site.hcl:1:58:", "Invalid max_fail", "0 or more, or -1 for no limit"}, nil},
		{"play vars not an object", []edit{{"playbooks/site.hcl", replace("serial = 1", `vars = "x"`)}}, nil,
			[]string{"playbooks/site.hcl:1:54:", "Invalid vars", "not a string"}, nil},
		{"play without roles", []edit{{"playbooks/site.hcl", replace(`roles = ["site"]`, "")}}, nil,
			[]string{"playbooks/site.hcl:1:1:", "Missing roles", `Play "web" needs roles, such as roles = ["nginx"]`}, nil},

		// Roles.
		{"duplicate task", []edit{{"roles/site/role.hcl", appendText("task \"service\" \"nginx\" { name = \"nginx\" }\n")}}, nil,
			[]string{"roles/site/role.hcl:8:1:", "Duplicate task", `Task "service.nginx" was already declared at roles/site/role.hcl:7`}, nil},
		{"duplicate handler", []edit{{"roles/site/role.hcl", appendText("handler \"service\" \"reload\" { name = \"nginx\"  state = \"reloaded\" }\nhandler \"command\" \"reload\" { command = \"true\" }\n")}}, nil,
			[]string{"roles/site/role.hcl:9:1:", "Duplicate handler", `Handler "reload" was already declared at roles/site/role.hcl:8`}, nil},
		{"duplicate variable", []edit{{"roles/site/role.hcl", appendText("variable \"port\" { default = 81 }\n")}}, nil,
			[]string{"roles/site/role.hcl:8:10:", "Duplicate variable", `Variable "port" is declared twice`}, nil},
		{"notify of an unknown handler", []edit{{"roles/site/role.hcl", replace(`mode   = "0644"`, "mode   = \"0644\"\n  notify = [\"reload\"]")}}, nil,
			[]string{"roles/site/role.hcl:6:13:", "Unknown handler", `notifies "reload"`, `role "site" has no handler`}, nil},
		{"if_changed naming no task", []edit{{"roles/site/role.hcl", replace(`state = "started" }`, `state = "started"  if_changed = ["template.cnof"] }`)}}, nil,
			[]string{"roles/site/role.hcl:7:", "Unknown task reference", `"template.cnof" names no task of play "web"`}, nil},
		{"if_changed not a list", []edit{{"roles/site/role.hcl", replace(`state = "started" }`, `state = "started"  if_changed = 1 }`)}}, nil,
			[]string{"roles/site/role.hcl:7:", "Invalid if_changed", "list of task references"}, nil},
		{"when is a string", []edit{{"roles/site/role.hcl", replace(`state = "started" }`, `state = "started"  when = "yes" }`)}}, nil,
			[]string{"roles/site/role.hcl:7:", "Invalid when", "when must be true or false, not string"}, nil},
		{"delegate_to naming no host", []edit{{"roles/site/role.hcl", replace(`state = "started" }`, `state = "started"  delegate_to = "lbb" }`)}}, nil,
			[]string{"roles/site/role.hcl:7:", "Invalid delegate_to", `"lbb" names no host or group`}, nil},
		{"nested block in a task", []edit{{"roles/site/role.hcl", replace(`mode   = "0644"`, "mode   = \"0644\"\n  owner {\n    name = \"root\"\n  }")}}, nil,
			[]string{"roles/site/role.hcl:6:3:", "Unexpected \"owner\" block", "Blocks are not allowed here"}, nil},
		{"unknown argument in a variable block", []edit{{"roles/site/role.hcl", replace(`{ default = 80 }`, `{ defualt = 80 }`)}}, nil,
			[]string{"roles/site/role.hcl:1:19:", "Unsupported argument", `no argument "defualt"`, "only default and description"}, nil},
		{"task kind typo in a handler", []edit{{"roles/site/role.hcl", appendText("handler \"sevrice\" \"reload\" { name = \"nginx\" }\n")}}, nil,
			[]string{"roles/site/role.hcl:8:9:", "Unknown task kind", `no task kind "sevrice"`, "service"}, nil},
		{"missing required task argument", []edit{{"roles/site/role.hcl", replace(`task "service" "nginx" { name = "nginx"  state = "started" }`, `task "service" "nginx" { state = "started" }`)}}, nil,
			[]string{"roles/site/role.hcl:7:1:", "Missing required argument", `needs the argument "name"`}, nil},

		// Templates.
		{"template syntax error", []edit{{"roles/site/templates/conf.tftpl", appendText("%{ if var.port }\nno endif\n")}}, nil,
			[]string{"roles/site/templates/conf.tftpl:4:1:", "Unexpected end of template", "if directive at roles/site/templates/conf.tftpl:2,1-17 is missing its corresponding endif"}, nil},
		{"template expression syntax error", []edit{{"roles/site/templates/conf.tftpl", appendText("listen ${var.port +}\n")}}, nil,
			[]string{"roles/site/templates/conf.tftpl:2:20:", "Invalid expression"}, nil},
		{"template calls an unknown function", []edit{{"roles/site/templates/conf.tftpl", appendText("x ${uppr(host.name)}\n")}}, nil,
			[]string{"roles/site/templates/conf.tftpl:2:5:", "Call to unknown function", `no function named "uppr"`}, nil},

		// Command line.
		{"-e without =", nil, []string{"-e", "foo"},
			[]string{"skiff: -e \"foo\": write key=value"}, nil},
		{"--limit naming nothing", nil, []string{"--limit", "nosuch"},
			[]string{"skiff: --limit:", `"nosuch" names no host or group`}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SKIFF_TEST_DB_PASSWORD", "s3cret-value")
			files := baseFiles()
			for _, e := range c.edits {
				files[e.file] = e.fn(t, files[e.file])
			}
			code, out, errs := runValidateArgs(t, files, c.args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if !strings.HasPrefix(errs, c.want[0]) && !strings.Contains(errs, "\n"+c.want[0]) {
				t.Errorf("%q does not start a line of stderr:\n%s", c.want[0], errs)
			}
			for _, bad := range append([]string{"goroutine ", "panic", "s3cret-value"}, c.not...) {
				if strings.Contains(errs, bad) {
					t.Errorf("stderr shows %q:\n%s", bad, errs)
				}
			}
		})
	}
}

// TestValidateAgeSecret resolves a secret from an age file through the CLI,
// then with the wrong identity: an error at the secret block that never
// shows the plaintext.
func TestValidateAgeSecret(t *testing.T) {
	const pw = "age-Plaintext-42"
	right, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var enc bytes.Buffer
	w, err := age.Encrypt(&enc, right.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "# test\ndb_password="+pw+"\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := baseFiles()
	files["inv.hcl"] = strings.Replace(files["inv.hcl"], `env = "SKIFF_TEST_DB_PASSWORD"`, `age = "secrets.age"  identity = "age.key"`, 1)
	files["roles/site/templates/conf.tftpl"] += "password ${secret.db_password}\n"
	files["secrets.age"] = enc.String()
	files["age.key"] = wrong.String() + "\n"
	t.Setenv("SKIFF_AGE_IDENTITY", "")
	// validate reads no secret: the wrong identity is not its concern.
	if code, out, errs := runValidateArgs(t, files); code != 0 {
		t.Errorf("validate: exit %d, want 0\nstdout: %s\nstderr: %s", code, out, errs)
	}
	code, out, errs := runPlanArgs(t, files)
	want := "inv.hcl:9:1: error: Wrong age identity: Secret \"db_password\": no identity matched"
	if code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "Needed by task template.conf (roles/site/role.hcl:2:1).") {
		t.Errorf("plan: exit %d, want 1 with %q, needed by template.conf\nstdout: %s\nstderr: %s", code, want, out, errs)
	}
	if strings.Contains(out+errs, pw) {
		t.Errorf("the plaintext shows:\n%s%s", out, errs)
	}
	_ = right
}

// runPlanArgs runs skiff plan on files, with the inventory's hosts moved to
// a closed loopback port: a plan stopped by a secret never dials, and one
// that is not reaches nothing but this machine.
func runPlanArgs(t *testing.T, files map[string]string, args ...string) (int, string, string) {
	t.Helper()
	files["inv.hcl"] = strings.Replace(files["inv.hcl"], `address = "10.0.0.1"`, "address = \"127.0.0.1\"\n  port = 1", 1)
	if !strings.Contains(files["inv.hcl"], `port = 1`) {
		t.Fatal("the inventory has no address to move")
	}
	return runSite(t, "plan", files, args...)
}
