package engine

import (
	"os/exec"
	"strings"
	"testing"
)

// The engine runs kinds through the module contract alone: it compiles
// against no concrete kind, which the CLI registers (module/builtin).
func TestEngineImportsNoConcreteKind(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to list the engine's dependencies")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const modules = "github.com/skiffdeploy/skiff/internal/module/"
	allowed := map[string]bool{modules + "shell": true} // the kinds' sh helpers
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, modules) && !allowed[p] {
			t.Errorf("the engine depends on %s", p)
		}
	}
}
