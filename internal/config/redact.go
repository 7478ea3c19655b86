package config

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/skiffdeploy/skiff/internal/secret"
)

// RedactDiagnostics returns diags with every occurrence of a secret value
// (see secret.ForRun) in a summary or detail replaced by (sensitive).
// skiff's own messages never quote secrets, but some of HCL's do (a
// duplicate key in a `for` expression names the key): this is the last
// line of defence before printing. diags is not modified.
func RedactDiagnostics(diags hcl.Diagnostics, secrets map[string]string) hcl.Diagnostics {
	if len(secrets) == 0 || len(diags) == 0 {
		return diags
	}
	s := secret.ForRun(secrets)
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Summary, c.Detail = s.Scrub(d.Summary), s.Scrub(d.Detail)
		out[i] = &c
	}
	return out
}
