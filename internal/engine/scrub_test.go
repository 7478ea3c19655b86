package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/command"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// movedRuns runs scripts with the local sh, the host's run directory
// (journal, backups) moved to dir.
type movedRuns struct {
	*transporttest.Local
	dir string
}

func (m movedRuns) Run(ctx context.Context, script string) (transport.Result, error) {
	return m.Local.Run(ctx, strings.ReplaceAll(script, HostRunsDir, m.dir))
}

// told records what an Observer is told.
type told struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (o *told) PlayStarted(string, []string) {}
func (o *told) HostTasks(string, int)        {}
func (o *told) TaskDone(host, play, task string, status plan.Status, summary string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.WriteString(summary + "\n")
}
func (o *told) HostDone(host, play string, status plan.Status, err string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.WriteString(err + "\n")
}

// A secret interpolated into a larger string (a DSN in env) is scrubbed
// by its own value: a command that prints only the password, and fails,
// shows it nowhere (the host's error, the text and JSON output, what the
// progress is told, the journals).
func TestSecretInALargerStringIsScrubbedEverywhere(t *testing.T) {
	const pw = `Pw4"lemon&<grape'tz9`
	t.Setenv("SKIFF_TEST_SCRUB_PW", pw)
	dir := t.TempDir()
	invPath := write(t, dir, "inv.hcl", `
host "a" { address = "10.0.0.1" }
secret "pw" { env = "SKIFF_TEST_SCRUB_PW" }
`)
	write(t, dir, "roles/r/role.hcl", `
task "command" "leak" {
  env     = { DSN = "mysql://app:${secret.pw}@db/app" }
  command = <<-EOT
    pw=$${DSN#mysql://app:}; pw=$${pw%@db/app}
    printf 'token=%s\n' "$pw"
    printf 'denied for %s\n' "$pw" >&2
    exit 3
  EOT
}
`)
	pbPath := write(t, dir, "playbooks/p.hcl", `play "p" { hosts = "all"  roles = ["r"] }`)
	l := config.NewLoader()
	invCfg, diags := l.LoadInventory(invPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	secrets, diags := invCfg.ResolveSecrets(nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	inv := inventory.New(invCfg)
	book, diags := l.LoadPlaybook(pbPath, nil, map[string]bool{"command": true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	w, err := journal.Create(filepath.Join(dir, "runs"), journal.Run{ID: "scrub", Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	hostRuns := filepath.Join(dir, "host-runs")
	obs := &told{}
	eng := &Engine{
		Inventory: inv, Playbook: book, Registry: module.Registry{"command": command.New},
		Scope: NewScope(inv, secrets, nil, nil), RunID: "scrub", Observer: obs,
		Dial: func(context.Context, *inventory.Host) (transport.Transport, error) {
			return movedRuns{&transporttest.Local{}, hostRuns}, nil
		},
	}
	p := eng.Apply(context.Background(), Changes{Journal: w, Rollback: true})

	if p.Summary.Failed != 1 || !strings.Contains(p.Hosts[0].Error, "token=(sensitive)") || !strings.Contains(p.Hosts[0].Error, "denied for (sensitive)") {
		t.Fatalf("want a failure quoting the command's output, secret scrubbed: %+v", p.Hosts[0])
	}
	var text, js bytes.Buffer
	plan.WriteText(&text, p)
	if err := plan.WriteJSON(&js, p); err != nil {
		t.Fatal(err)
	}
	jsonPw, _ := json.Marshal(pw)
	shown := map[string]string{"text output": text.String(), "JSON output": js.String(), "progress": obs.buf.String()}
	for _, f := range []string{filepath.Join(dir, "runs", "scrub.jsonl"), filepath.Join(hostRuns, "scrub", "journal.jsonl")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		shown[f] = string(b)
	}
	for what, s := range shown {
		for _, piece := range []string{pw, string(jsonPw[1 : len(jsonPw)-1]), "lemon", "grape"} {
			if strings.Contains(s, piece) {
				t.Errorf("%s holds %q:\n%s", what, piece, s)
			}
		}
	}
}
