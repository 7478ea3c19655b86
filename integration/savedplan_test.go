package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSavedPlanPinsContent proves on a real host that a saved plan is
// applied with exactly the content it saw, though its diff was hidden: an
// app binary (a local file given by a variable) and a template rendering a
// secret. A source changed after the plan makes apply PLANFILE refuse the
// host, naming the task and the source, and leave it as it was; the plan
// applies once the source is back to what the plan saw.
func TestSavedPlanPinsContent(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	dir := t.TempDir()
	writeFile := func(t *testing.T, path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pw := filepath.Join(dir, "db_password")
	bin := filepath.Join(dir, "build", "app")
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": {"app"}}, `secret "db_password" { file = "`+pw+`" }`); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"playbooks/pinned.hcl": `play "app" { hosts = "app"  roles = ["pinned"] }` + "\n",
		"roles/pinned/role.hcl": `variable "app_binary" {}
task "directory" "home" { path = "/opt/pinned" }
task "file" "binary" {
  source = abspath(var.app_binary)
  path   = "/opt/pinned/app"
  mode   = "0755"
}
task "template" "env" {
  source = "app.env.tftpl"
  path   = "/opt/pinned/app.env"
  mode   = "0600"
}
`,
		"roles/pinned/templates/app.env.tftpl": "DB_PASSWORD=${secret.db_password}\n",
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	playbook := filepath.Join(dir, "playbooks", "pinned.hcl")
	release := func(n string) string { return "\x7fELF\x02\x01\x01\x00 app release " + n + "\n" }
	host := func() string { return digest(t, c, "h1", "/opt/pinned/app", "/opt/pinned/app.env") }

	writeFile(t, bin, release("1"))
	writeFile(t, pw, "pw-one")
	if r := skiff(t, "apply", "-i", inv, playbook, "-e", "app_binary="+bin, "--yes"); r.code != 0 {
		t.Fatalf("baseline: exit %d", r.code)
	}

	// refused plans a change with the source at planned, then sets the
	// source to changed: apply PLANFILE must refuse h1, naming task and
	// source, and change nothing; with the source back at planned, the
	// plan applies.
	refused := func(t *testing.T, source, planned, changed, task, names string) {
		planFile := filepath.Join(t.TempDir(), "pinned.plan")
		writeFile(t, source, planned)
		r := skiff(t, "plan", "-i", inv, playbook, "-e", "app_binary="+bin, "--out", planFile, "--output", "json")
		if r.code != 0 {
			t.Fatalf("plan --out: exit %d", r.code)
		}
		if _, n, _ := r.json.host("h1"); n != 1 {
			t.Fatalf("plan: %d change(s) on h1, want 1 (%s)", n, task)
		}
		for _, ch := range r.json.Hosts[0].Changes {
			if ch.Diff != "" {
				t.Errorf("the plan shows a diff for %s: %s", ch.Task, ch.Diff)
			}
		}
		saved, err := os.ReadFile(planFile)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(saved), "pw-") {
			t.Errorf("the plan file holds the secret")
		}
		before := host()

		writeFile(t, source, changed)
		r = skiff(t, "apply", planFile, "--yes", "--output", "json")
		if r.code != 1 {
			t.Fatalf("apply PLANFILE after the source changed: exit %d, want 1", r.code)
		}
		status, _, msg := r.json.host("h1")
		if status != "failed" {
			t.Errorf("h1: %s, want failed", status)
		}
		for _, want := range []string{"refused", task, names} {
			if !strings.Contains(msg, want) || !strings.Contains(r.stderr, want) {
				t.Errorf("the refusal does not say %q: %q\n%s", want, msg, r.stderr)
			}
		}
		if !strings.Contains(r.stderr, "h1: refused") {
			t.Errorf("stderr does not name the host:\n%s", r.stderr)
		}
		if after := host(); after != before {
			t.Errorf("h1 changed by a refused plan:\n%s\nwas\n%s", after, before)
		}

		writeFile(t, source, planned)
		if r := skiff(t, "apply", planFile, "--yes", "--output", "json"); r.code != 0 {
			t.Fatalf("apply PLANFILE with the source as planned: exit %d", r.code)
		}
		if out, _ := hostExec(t, c, "h1", "cat /opt/pinned/app /opt/pinned/app.env"); !strings.Contains(out, planned) {
			t.Errorf("h1 does not hold the planned content %q:\n%s", planned, out)
		}
	}
	t.Run("an app binary changed after the plan", func(t *testing.T) {
		refused(t, bin, release("2"), release("3"), "app/pinned file.binary", bin)
	})
	t.Run("a secret rendered into a template changed after the plan", func(t *testing.T) {
		refused(t, pw, "pw-two", "pw-three", "app/pinned template.env", filepath.Join(dir, "roles", "pinned", "templates", "app.env.tftpl"))
	})
}
