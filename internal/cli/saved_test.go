package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/plan"
)

// runSkiff runs skiff with args, reaching every host with the local shell.
func runSkiff(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &console{in: strings.NewReader(""), out: &out, err: &errb, diags: &diagLog{}}
	root := newRoot(c, localDial)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		code = 1
		errb.WriteString("skiff: " + err.Error() + "\n")
	}
	return code, out.String(), errb.String()
}

// savedSite is a site whose one host is this machine: a binary file and a
// template that renders a secret, both written under out, which no diff
// shows.
func savedSite(t *testing.T) (dir, out string) {
	dir = t.TempDir()
	out = filepath.Join(dir, "host")
	files := map[string]string{
		"inv.hcl": `host "web1" { address = "127.0.0.1" }
secret "pw" { file = "` + filepath.Join(dir, "pw") + `" }
`,
		"pw":                 "hunter2",
		"playbooks/site.hcl": `play "app" { hosts = "all"  roles = ["app"] }` + "\n",
		"roles/app/role.hcl": `task "file" "binary" {
  source = "app.bin"
  path   = "` + out + `/app.bin"
  mode   = "0600"
}
task "template" "env" {
  source = "env.tftpl"
  path   = "` + out + `/app.env"
  mode   = "0600"
}
`,
		"roles/app/files/app.bin":       "\x7fELF\x00release one",
		"roles/app/templates/env.tftpl": "PASSWORD=${secret.pw}\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, out
}

// A saved plan pins the content it would write, though no diff shows it
// (binary, or rendered from a secret): once a local source changed,
// apply PLANFILE refuses the host, naming the task and the source, and
// writes nothing. The plan file holds no secret.
func TestApplySavedPlanRefusesChangedContent(t *testing.T) {
	cases := []struct {
		name, file, content, task, source string
	}{
		{"a binary file", "roles/app/files/app.bin", "\x7fELF\x00release two", "app/app file.binary", "roles/app/files/app.bin"},
		{"a secret in a template", "pw", "hunter3", "app/app template.env", "template "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, out := savedSite(t)
			planFile := filepath.Join(dir, "site.plan")
			code, stdout, stderr := runSkiff(t, "plan", "-i", filepath.Join(dir, "inv.hcl"), filepath.Join(dir, "playbooks/site.hcl"),
				"--no-probe-helper", "--out", planFile)
			if code != 0 {
				t.Fatalf("plan --out: exit %d\n%s\n%s", code, stdout, stderr)
			}
			saved, err := os.ReadFile(planFile)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(saved, []byte("hunter2")) {
				t.Fatalf("the plan file holds the secret")
			}
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}

			code, stdout, stderr = runSkiff(t, "apply", planFile, "--yes", "--output", "json")
			if code != 1 {
				t.Fatalf("apply of the plan: exit %d, want 1\n%s\n%s", code, stdout, stderr)
			}
			var res struct {
				Hosts []plan.Host `json:"hosts"`
			}
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			if len(res.Hosts) != 1 || res.Hosts[0].Name != "web1" || res.Hosts[0].Status != plan.StatusFailed {
				t.Fatalf("hosts %+v, want web1 failed", res.Hosts)
			}
			for _, want := range []string{"refused", tc.task, tc.source} {
				if !strings.Contains(res.Hosts[0].Error, want) || !strings.Contains(stderr, want) {
					t.Errorf("the refusal does not say %q:\nerror: %s\nstderr: %s", want, res.Hosts[0].Error, stderr)
				}
			}
			if !strings.Contains(stderr, "web1") {
				t.Errorf("stderr does not name the host:\n%s", stderr)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("the refused plan wrote %d file(s) on the host", len(entries))
			}
		})
	}
}

// A saved plan's content digests are checked only with the key they were
// made with: without it, or with another, apply refuses before reading
// any host.
func TestApplySavedPlanNeedsItsKey(t *testing.T) {
	dir, out := savedSite(t)
	planFile := filepath.Join(dir, "site.plan")
	if code, stdout, stderr := runSkiff(t, "plan", "-i", filepath.Join(dir, "inv.hcl"), filepath.Join(dir, "playbooks/site.hcl"),
		"--no-probe-helper", "--out", planFile); code != 0 {
		t.Fatalf("plan --out: exit %d\n%s\n%s", code, stdout, stderr)
	}
	key := filepath.Join(dir, ".skiff", "plan.key")
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("plan key: %v %v", st, err)
	}
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runSkiff(t, "apply", planFile, "--yes")
	if code != 1 || !strings.Contains(stderr, "without the key it was saved with") {
		t.Errorf("without the key: exit %d\n%s", code, stderr)
	}
	if err := os.WriteFile(key, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runSkiff(t, "apply", planFile, "--yes")
	if code != 1 || !strings.Contains(stderr, "saved with another key") {
		t.Errorf("with another key: exit %d\n%s", code, stderr)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("a refused plan wrote %d file(s) on the host", len(entries))
	}
}
