package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
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
