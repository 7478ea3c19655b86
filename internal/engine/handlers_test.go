package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// logLine is a test module that always has a change: its Apply appends
// its line to a log file, so the file tells what ran, in which order.
type logLine struct{ path, line string }

func (m *logLine) Probe() string { return "" }
func (m *logLine) Check(module.Probed) (*module.Change, error) {
	return &module.Change{Action: plan.Run, Summary: "log " + m.line}, nil
}
func (m *logLine) Apply(ctx context.Context, t transport.Transport) error {
	res, err := t.Run(ctx, fmt.Sprintf("echo %q >> %q", m.line, m.path))
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d", res.ExitCode)
	}
	return err
}

// handlerFixture: host a and one role r; "log" tasks write to LOG.
func handlerFixture(t *testing.T, role string) (*Engine, string) {
	t.Helper()
	dir := t.TempDir()
	invPath := write(t, dir, "inv.hcl", `host "a" { address = "10.0.0.1" }`)
	write(t, dir, "roles/r/role.hcl", role)
	pbPath := write(t, dir, "playbooks/p.hcl", `play "p" { hosts = "all"  roles = ["r"] }`)
	l := config.NewLoader()
	invCfg, diags := l.LoadInventory(invPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	inv := inventory.New(invCfg)
	book, diags := l.LoadPlaybook(pbPath, nil, map[string]bool{"log": true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	logPath := filepath.Join(dir, "LOG")
	reg := module.Registry{"log": func(a *module.Args) module.Module {
		return &logLine{path: logPath, line: a.String("line", true)}
	}}
	conn := &transporttest.Local{}
	return &Engine{
		Inventory: inv, Playbook: book, Registry: reg, Scope: NewScope(inv, nil, nil, nil), RunID: "handlers",
		Dial: func(context.Context, *inventory.Host) (transport.Transport, error) { return conn, nil },
	}, logPath
}

// ran returns the lines of the log: what Apply ran, in order.
func ran(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// handlersIn lists the handlers among a host's changes, in order.
func handlersIn(h *plan.Host) string {
	var out []string
	for _, c := range h.Changes {
		if name, ok := strings.CutPrefix(c.Task, "handler."); ok {
			out = append(out, name)
		}
	}
	return strings.Join(out, " ")
}

func TestHandlerChains(t *testing.T) {
	cases := []struct {
		name, role string
		want       string // handlers run, in order
	}{
		{"a chain A->B runs B once, after A", `
task "log" "t" {
  line   = "t"
  notify = ["A"]
}
handler "log" "A" {
  line   = "A"
  notify = ["B"]
}
handler "log" "B" { line = "B" }
`, "A B"},
		{"a handler notified twice, by tasks and by a handler, runs once", `
task "log" "t1" {
  line   = "t1"
  notify = ["A", "B"]
}
task "log" "t2" {
  line   = "t2"
  notify = ["B"]
}
handler "log" "A" {
  line   = "A"
  notify = ["B"]
}
handler "log" "B" { line = "B" }
`, "A B"},
		{"declaration order, whatever the order of notify", `
task "log" "t1" {
  line   = "t1"
  notify = ["C"]
}
task "log" "t2" {
  line   = "t2"
  notify = ["A"]
}
handler "log" "A" {
  line   = "A"
  notify = ["B"]
}
handler "log" "B" { line = "B" }
handler "log" "C" { line = "C" }
`, "A B C"},
		{"a handler declared earlier runs after its notifier", `
task "log" "t" {
  line   = "t"
  notify = ["C"]
}
handler "log" "A" { line = "A" }
handler "log" "B" { line = "B" }
handler "log" "C" {
  line   = "C"
  notify = ["A"]
}
`, "C A"},
		{"a loop runs each once", `
task "log" "t" {
  line   = "t"
  notify = ["A"]
}
handler "log" "A" {
  line   = "A"
  notify = ["B", "A"]
}
handler "log" "B" {
  line   = "B"
  notify = ["A"]
}
`, "A B"},
		{"a chained handler whose when is false is skipped", `
task "log" "t" {
  line   = "t"
  notify = ["A"]
}
handler "log" "A" {
  line   = "A"
  notify = ["B", "C"]
}
handler "log" "B" {
  line = "B"
  when = false
}
handler "log" "C" { line = "C" }
`, "A C"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eng, log := handlerFixture(t, c.role)
			p := eng.Plan(context.Background())
			if p.Failed() || handlersIn(p.Hosts[0]) != c.want {
				t.Fatalf("plan: handlers %q, want %q (%+v)", handlersIn(p.Hosts[0]), c.want, p.Hosts[0])
			}
			if got := ran(t, log); got != "" {
				t.Fatalf("plan ran %q", got)
			}
			p = eng.Apply(context.Background(), Changes{})
			if p.Failed() || handlersIn(p.Hosts[0]) != c.want {
				t.Fatalf("apply: handlers %q, want %q (%+v)", handlersIn(p.Hosts[0]), c.want, p.Hosts[0])
			}
			var tasks []string
			for _, ch := range p.Hosts[0].Changes {
				if !strings.HasPrefix(ch.Task, "handler.") {
					tasks = append(tasks, strings.TrimPrefix(ch.Task, "log."))
				}
			}
			if want := strings.TrimSpace(strings.Join(tasks, " ") + " " + c.want); ran(t, log) != want {
				t.Errorf("ran %q, want %q", ran(t, log), want)
			}
			// The output names each handler that ran.
			var text, js strings.Builder
			plan.WriteText(&text, p)
			if err := plan.WriteJSON(&js, p); err != nil {
				t.Fatal(err)
			}
			for _, h := range strings.Fields(c.want) {
				if !strings.Contains(text.String(), "! p/r handler."+h+": log "+h+"\n") || !strings.Contains(js.String(), `"task": "handler.`+h+`"`) {
					t.Errorf("handler %s missing from the output:\n%s\n%s", h, text.String(), js.String())
				}
			}
		})
	}
}

// A handler that is not notified does not run, even if it notifies others.
func TestHandlersNotNotifiedDoNotRun(t *testing.T) {
	eng, log := handlerFixture(t, `
task "log" "t" { line = "t" }
handler "log" "A" {
  line   = "A"
  notify = ["B"]
}
handler "log" "B" { line = "B" }
`)
	if p := eng.Apply(context.Background(), Changes{}); p.Failed() || handlersIn(p.Hosts[0]) != "" || ran(t, log) != "t" {
		t.Fatalf("handlers %q ran; log %q", handlersIn(p.Hosts[0]), ran(t, log))
	}
}
