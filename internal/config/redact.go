package config

import (
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"skiff/internal/secret"
)

// minRedactLen is the shortest secret value RedactDiagnostics replaces:
// hiding every "1" or "ab" would garble messages and protect nothing.
const minRedactLen = 4

// RedactDiagnostics returns diags with every occurrence of a secret value
// in a summary or detail replaced by (sensitive). skiff's own messages never
// quote secrets, but some of HCL's do (a duplicate key in a `for`
// expression names the key): this is the last line of defence before
// printing. diags is not modified.
func RedactDiagnostics(diags hcl.Diagnostics, secrets map[string]string) hcl.Diagnostics {
	var vals []string
	for _, v := range secrets {
		if len(v) >= minRedactLen {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 || len(diags) == 0 {
		return diags
	}
	// Longest first, so a secret containing another is hidden whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, secret.Redacted)
	}
	r := strings.NewReplacer(pairs...)
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Summary, c.Detail = r.Replace(d.Summary), r.Replace(d.Detail)
		out[i] = &c
	}
	return out
}
