package ui

import (
	"bytes"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/plan"
)

func drive(p *Progress) {
	p.PlayStarted("web", []string{"web1", "web2"})
	p.HostTasks("web1", 2)
	p.HostTasks("web2", 2)
	p.TaskDone("web1", "web", "package.nginx", plan.StatusOK, "")
	p.TaskDone("web1", "web", "template.site", "changed", "update /etc/nginx/nginx.conf")
	p.TaskDone("web2", "web", "package.nginx", "failed", "apt-get failed")
	p.HostDone("web1", "web", "changed", "")
	p.HostDone("web2", "web", "failed", "web/nginx package.nginx: apt-get failed")
	p.Close()
}

func TestPlainLinesWithoutTerminal(t *testing.T) {
	var buf bytes.Buffer
	drive(NewProgress(&buf, false, false))
	out := buf.String()
	for _, want := range []string{"play web: 2 host(s)", "web1         changed  template.site: update /etc/nginx/nginx.conf", "web2         failed   package.nginx", "web2         failed: web/nginx package.nginx: apt-get failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "package.nginx\n") && strings.Contains(out, " ok ") {
		t.Errorf("ok tasks printed without --verbose:\n%s", out)
	}
	if strings.Contains(out, "\r") {
		t.Errorf("carriage returns (a bar) in plain output")
	}
}

func TestBarOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	drive(NewProgress(&buf, true, false))
	out := buf.String()
	if !strings.Contains(out, "\r") || !strings.Contains(out, "tasks") {
		t.Errorf("no progress bar drawn:\n%q", out)
	}
	if !strings.Contains(out, "template.site: update /etc/nginx/nginx.conf") {
		t.Errorf("changes not printed above the bar:\n%q", out)
	}
}

// Plays that run at once share the bar: its total is theirs together, and
// a play that starts once they are done starts a bar of its own.
func TestPlaysAtOnceShareTheBar(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, true, false)
	p.PlayStarted("database", []string{"db1"})
	p.HostTasks("db1", 2)
	p.PlayStarted("lb", []string{"web1"})
	p.HostTasks("web1", 3)
	if p.total != 5 {
		t.Errorf("total with two plays under way = %d, want 5", p.total)
	}
	p.HostDone("web1", "lb", plan.StatusChanged, "")
	p.PlayDone("lb")
	p.HostDone("db1", "database", plan.StatusChanged, "")
	p.PlayDone("database")
	p.PlayStarted("web", []string{"web1"})
	p.HostTasks("web1", 4)
	if p.total != 4 {
		t.Errorf("total of a play started alone = %d, want 4", p.total)
	}
	p.Close()
	for _, want := range []string{"play database: 1 host(s)", "play lb: 1 host(s)", "play web: 1 host(s)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("missing %q in:\n%s", want, buf.String())
		}
	}
}
