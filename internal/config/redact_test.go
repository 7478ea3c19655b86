package config

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestRedactDiagnostics(t *testing.T) {
	d := &hcl.Diagnostic{Summary: "Duplicate object key", Detail: `Two different items produced the key "hunter2-long" and "1".`}
	diags := hcl.Diagnostics{d}
	got := RedactDiagnostics(diags, map[string]string{"a": "hunter2", "b": "hunter2-long", "c": "1"})
	if want := `Two different items produced the key "(sensitive)" and "1".`; got[0].Detail != want {
		t.Errorf("detail = %q, want %q", got[0].Detail, want)
	}
	if d.Detail == got[0].Detail {
		t.Error("the input was modified")
	}
	if same := RedactDiagnostics(diags, nil); same[0] != d {
		t.Error("no secrets: diagnostics should pass through")
	}
}

// HCL quotes values with escapes: the quoted form of a secret is found too.
func TestRedactDiagnosticsQuotedForm(t *testing.T) {
	d := &hcl.Diagnostic{Summary: "Invalid value", Detail: `The value "x=pa\"ss\\word" is not a number.`}
	got := RedactDiagnostics(hcl.Diagnostics{d}, map[string]string{"pw": `pa"ss\word`})
	if want := `The value "x=(sensitive)" is not a number.`; got[0].Detail != want {
		t.Errorf("detail = %q, want %q", got[0].Detail, want)
	}
}
