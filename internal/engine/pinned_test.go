package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// put is a test module that writes content (a ContentWriter): the file
// at path holds content, which comes from "source".
type put struct {
	path, content, source string
	write                 bool
	applied               *int
}

func (m *put) Probe() string { return fmt.Sprintf("cat %q 2>/dev/null; true", m.path) }
func (m *put) Check(p module.Probed) (*module.Change, error) {
	m.write = string(p.Stdout) != m.content
	if !m.write {
		return nil, nil
	}
	return &module.Change{Action: plan.Create, Summary: "write " + m.path + " (content sensitive)", Sensitive: true}, nil
}
func (m *put) Apply(ctx context.Context, t transport.Transport) error {
	*m.applied++
	return os.WriteFile(m.path, []byte(m.content), 0o600)
}
func (m *put) Written() ([]byte, string, bool) { return []byte(m.content), m.source, m.write }

// A saved plan pins the content its changes write: applying, a task whose
// content changed since (here a secret, so the plan shows no diff) fails
// before it writes, naming its source; the content the plan saw is written.
func TestApplyRefusesContentTheSavedPlanDidNotSee(t *testing.T) {
	role := `task "touch" "secret" { path = "DIR/${host.name}" }`
	f := newFixture(t, role, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	applied := 0
	content := "pw=one\n"
	f.eng.Registry["touch"] = func(a *module.Args) module.Module {
		return &put{path: a.String("path", true), content: content, source: "files/secret.env", applied: &applied}
	}
	f.eng.Hosts = f.eng.Inventory.Hosts[:1] // a
	f.eng.ContentKey = plan.PlanContentKey([]byte("site key"), "nonce")

	saved := f.eng.Plan(context.Background())
	c := saved.Hosts[0].Changes
	if len(c) != 1 || c[0].Content == nil || c[0].Content.Source != "files/secret.env" {
		t.Fatalf("plan changes = %+v, want one recording its content", c)
	}
	if strings.Contains(c[0].Content.Digest, module.SHA256([]byte(content))) {
		t.Errorf("the digest is the content's plain sha256: %s", c[0].Content.Digest)
	}

	f.ch.Pinned = saved.Contents()
	content = "pw=two\n"
	p := f.eng.Apply(context.Background(), f.ch)
	h := p.Hosts[0]
	if h.Status != plan.StatusFailed || applied != 0 {
		t.Fatalf("changed content: status %s, applied %d times; want failed, never applied", h.Status, applied)
	}
	for _, want := range []string{"r touch.secret", "files/secret.env", "refused"} {
		if !strings.Contains(h.Error, want) {
			t.Errorf("error %q does not say %q", h.Error, want)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "DIR", "a")); err == nil {
		t.Errorf("the refused content was written")
	}

	content = "pw=one\n"
	p = f.eng.Apply(context.Background(), f.ch)
	if h := p.Hosts[0]; h.Status != plan.StatusChanged || applied != 1 {
		t.Fatalf("content as planned: status %s (%s), applied %d times; want changed once", h.Status, h.Error, applied)
	}
	if b, _ := os.ReadFile(filepath.Join(f.dir, "DIR", "a")); string(b) != "pw=one\n" {
		t.Errorf("written %q", b)
	}
}
