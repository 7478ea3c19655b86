package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// A variable that fails its validation block stops the host before any
// of the role's tasks is probed or applied, naming the file and line.
func TestInvalidVariableStopsTheHost(t *testing.T) {
	role := `
variable "label" {
  default = "ok"
  validation {
    condition     = length(regexall("^[a-z]+$", var.label)) > 0
    error_message = "label must be lower-case letters."
  }
}
task "touch" "mark" { path = "DIR/${host.name}-${var.label}" }
`
	f := newFixture(t, role, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.eng.Scope = NewScope(f.eng.Inventory, nil, map[string]cty.Value{"label": cty.StringVal("x; reboot")}, nil)
	if d := f.eng.Validate(); !d.HasErrors() || !strings.Contains(d.Error(), "label must be lower-case letters.") {
		t.Errorf("validate: %v", d)
	}
	p := f.eng.Apply(context.Background(), f.ch)
	if p.Summary.Failed != 3 {
		t.Fatalf("summary %+v, want 3 failed", p.Summary)
	}
	for _, h := range p.Hosts {
		if !strings.Contains(h.Error, "roles/r/role.hcl:5:") || !strings.Contains(h.Error, `var.label is "x; reboot"`) {
			t.Errorf("%s: %q does not say where and what", h.Name, h.Error)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(f.dir, "DIR")); len(entries) != 0 {
		t.Errorf("tasks ran: %d files", len(entries))
	}
	for name, c := range f.conns {
		if c.Runs() != 1 {
			t.Errorf("%s: %d round trips, want only the facts", name, c.Runs())
		}
	}
}
