package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate reports for_each mistakes at their file, line and column, in
// text and in JSON.
func TestValidateForEachDiagnostics(t *testing.T) {
	cases := []struct {
		name, role string
		want       string // text: location, then summary
		line, col  int
	}{
		{"a number", `variable "port" { default = 80 }
task "service" "s" {
  for_each = var.port
  name     = each.key
}
`, "roles/site/role.hcl:3:14: error: Invalid for_each: for_each must be a map, or a set or list of strings, not a number.", 3, 14},
		{"an unknown variable", `task "service" "s" {
  for_each = var.sitez
  name     = each.key
}
`, `roles/site/role.hcl:2:17: error: Unknown variable: There is no variable named "sitez".`, 2, 17},
		{"a repeated key", `task "service" "s" {
  for_each = ["a", "b", "a"]
  name     = each.key
}
`, `roles/site/role.hcl:2:25: error: Duplicate for_each key: "a" appears twice in for_each`, 2, 25},
		{"each without for_each", `task "service" "s" {
  name = each.key
}
`, "roles/site/role.hcl:2:10: error: each without for_each: service.s reads each", 2, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := baseFiles()
			files["roles/site/role.hcl"] = c.role
			t.Setenv("SKIFF_TEST_DB_PASSWORD", "s3cret")
			code, _, errs := runValidate(t, files)
			if code != 1 || !strings.Contains(errs, c.want) {
				t.Fatalf("exit %d\nstderr: %s\nwant: %s", code, errs, c.want)
			}

			dir := t.TempDir()
			for name, content := range files {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte(content), 0o644)
			}
			var out, errb bytes.Buffer
			Main([]string{"validate", "-i", filepath.Join(dir, "inv.hcl"), filepath.Join(dir, "playbooks/site.hcl"), "--output", "json"}, strings.NewReader(""), &out, &errb)
			var doc validateView
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatalf("%v\n%s\n%s", err, out.String(), errb.String())
			}
			if len(doc.Diagnostics) != 1 {
				t.Fatalf("diagnostics: %+v", doc.Diagnostics)
			}
			r := doc.Diagnostics[0].Range
			if r == nil || r.File != filepath.Join(dir, "roles/site/role.hcl") || r.Line != c.line || r.Column != c.col {
				t.Errorf("range: %+v", r)
			}
		})
	}
}
