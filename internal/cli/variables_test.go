package cli

import (
	"strings"
	"testing"
)

// skiff validate checks -e values against a role's validation blocks and
// names the file and line of the failing condition.
func TestValidateChecksVariables(t *testing.T) {
	t.Setenv("SKIFF_TEST_DB_PASSWORD", "s3cret")
	files := baseFiles()
	files["roles/site/role.hcl"] = strings.Replace(files["roles/site/role.hcl"], `variable "port" { default = 80 }`, `variable "port" { default = 80 }
variable "release" {
  default = "1.0"
  validation {
    condition     = length(regexall("^[A-Za-z0-9][A-Za-z0-9._+-]*$", var.release)) > 0
    error_message = "release must be a release label."
  }
}
task "command" "prune" {
  command = "ls /srv | grep -vxF -- ${shellquote(var.release)}"
  unless  = "false"
}`, 1)
	if code, out, errs := runValidateArgs(t, files); code != 0 {
		t.Fatalf("the defaults: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs := runValidateArgs(t, files, "-e", "release=1.0'; reboot; '")
	if code != 1 || !strings.Contains(errs, "roles/site/role.hcl:5:21: error: Invalid value for variable: release must be a release label.") ||
		!strings.Contains(errs, `var.release is "1.0'; reboot; '"`) {
		t.Fatalf("exit %d\n%s", code, errs)
	}
}
