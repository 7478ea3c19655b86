package moduletest

import (
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/secret"
)

// Tests of the helpers added to module.Args for the built-in kinds.

func TestSecretStrings(t *testing.T) {
	a := Args("command", "c", map[string]cty.Value{
		"command": cty.StringVal("plain"),
		"env": cty.MapVal(map[string]cty.Value{
			"A": secret.Wrap(cty.StringVal("one")),
			"B": cty.StringVal("public"),
		}),
		"creates": secret.Wrap(cty.StringVal("/two")),
		"unless":  secret.Wrap(cty.ListVal([]cty.Value{cty.StringVal("three"), cty.StringVal("four")})),
	})
	got := a.SecretStrings("command", "env", "creates", "unless", "absent")
	sort.Strings(got)
	if strings.Join(got, ",") != "/two,four,one,three" {
		t.Errorf("SecretStrings = %q", got)
	}
}

func TestStringMap(t *testing.T) {
	a := Args("command", "c", map[string]cty.Value{
		"env": cty.ObjectVal(map[string]cty.Value{"A": cty.StringVal("1"), "N": cty.NumberIntVal(2), "S": secret.Wrap(cty.StringVal("s"))}),
	})
	m := a.StringMap("env")
	if len(m) != 3 || m["A"] != "1" || m["N"] != "2" || m["S"] != "s" {
		t.Errorf("StringMap = %v", m)
	}
	if diags := a.Finish(); diags.HasErrors() {
		t.Errorf("diags: %v", diags)
	}
	a = Args("command", "c", map[string]cty.Value{"env": cty.ListVal([]cty.Value{cty.StringVal("x")})})
	if m := a.StringMap("env"); m != nil || !a.Finish().HasErrors() {
		t.Errorf("a list accepted as a map: %v", m)
	}
}

func TestAddDiagnosticsAndRejectSensitive(t *testing.T) {
	a := Args("file", "f", map[string]cty.Value{"path": secret.Wrap(cty.StringVal("/x"))})
	a.AddDiagnostics(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "from a template"}})
	a.RejectSensitive("path", "missing")
	a.Value("path")
	diags := a.Finish()
	DiagsContain(t, diags, "from a template")
	DiagsContain(t, diags, `"path" must not derive from a secret`)
	if len(diags) != 2 {
		t.Errorf("diags = %v", diags)
	}
}
