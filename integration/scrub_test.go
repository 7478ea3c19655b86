package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScrubSecretInLargerString: a secret interpolated into a larger
// string (a DSN) reaches a command, which prints just the password and
// fails; a file on the host holds the password where skiff replaces it.
// Neither the text nor the JSON output, the progress on stderr, nor the
// journals (beside the inventory and on the host) hold the password: it
// shows as (sensitive).
func TestScrubSecretInLargerString(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	const pw = `Pw4"lemon&<grape'tz9`
	t.Setenv("SKIFF_SCRUB_PW", pw)
	if out, code := hostExec(t, c, "h1", "printf 'dsn=mysql://app:%s@db/app\\npassword=%s\\n' "+shq(pw)+" "+shq(pw)+" >/etc/leak.conf"); code != 0 {
		t.Fatalf("planting /etc/leak.conf: exit %d: %s", code, out)
	}

	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, nil, `secret "db_password" { env = "SKIFF_SCRUB_PW" }`); err != nil {
		t.Fatal(err)
	}
	book := filepath.Join(dir, "playbooks", "leak.hcl")
	files := map[string]string{
		book: `play "leak" { hosts = "all"  roles = ["leak"] }`,
		filepath.Join(dir, "roles", "leak", "role.hcl"): `
task "file" "conf" {
  path    = "/etc/leak.conf"
  content = "managed by skiff\n"
}

task "command" "migrate" {
  env     = { DSN = "mysql://app:${secret.db_password}@db/app" }
  command = <<-EOT
    pw=$${DSN#mysql://app:}; pw=$${pw%@db/app}
    printf 'connecting with password %s\n' "$pw"
    printf 'access denied for %s\n' "$pw" >&2
    exit 3
  EOT
}
`,
	}
	for p, src := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var shown []string
	keep := func(r run) run {
		shown = append(shown, r.stdout, r.stderr)
		return r
	}

	r := keep(skiff(t, "plan", "-i", inv, book, "--output", "json"))
	if r.code != 0 || len(r.json.Hosts) != 1 || len(r.json.Hosts[0].Changes) != 2 {
		t.Fatalf("plan: exit %d, %+v", r.code, r.json.Hosts)
	}
	if d := r.json.Hosts[0].Changes[0].Diff; !strings.Contains(d, "-password=(sensitive)") {
		t.Errorf("the file's diff does not show the old password as (sensitive):\n%s", d)
	}
	keep(skiff(t, "plan", "-i", inv, book))

	r = keep(skiff(t, "apply", "-i", inv, book, "--yes", "--output", "json"))
	st, _, msg := r.json.host("h1")
	if r.code != 1 || st != "failed" || !strings.Contains(msg, "connecting with password (sensitive)") || !strings.Contains(msg, "access denied for (sensitive)") {
		t.Fatalf("apply: exit %d, h1 %s: %q", r.code, st, msg)
	}
	r = keep(skiff(t, "apply", "-i", inv, book, "--yes"))
	if r.code != 1 || !strings.Contains(r.stdout, "FAILED:") || !strings.Contains(r.stdout, "access denied for (sensitive)") {
		t.Fatalf("apply (text): exit %d\n%s", r.code, r.stdout)
	}

	journals, _ := filepath.Glob(filepath.Join(dir, ".skiff", "runs", "*.jsonl"))
	if len(journals) != 2 {
		t.Fatalf("want the journals of two applies, found %v", journals)
	}
	for _, j := range journals {
		b, err := os.ReadFile(j)
		if err != nil {
			t.Fatal(err)
		}
		shown = append(shown, string(b))
	}
	hostJournals, code := hostExec(t, c, "h1", "cat /var/lib/skiff/runs/*/journal.jsonl")
	if code != 0 || hostJournals == "" {
		t.Fatalf("reading the host's journals: exit %d", code)
	}
	shown = append(shown, hostJournals)

	jsonPw, _ := json.Marshal(pw)
	for _, s := range shown {
		for _, piece := range []string{pw, string(jsonPw[1 : len(jsonPw)-1]), "lemon", "grape"} {
			if strings.Contains(s, piece) {
				t.Fatalf("the password (%q) shows:\n%s", piece, s)
			}
		}
	}
}
