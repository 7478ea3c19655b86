package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// TestShellquoteOnRealHost: a value from -e holding quotes and shell
// syntax reaches a root command through shellquote as one literal word,
// on the test host's /bin/sh: it is written back unchanged and runs
// nothing.
func TestShellquoteOnRealHost(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, nil, ""); err != nil {
		t.Fatal(err)
	}
	book := filepath.Join(dir, "playbooks", "quote.hcl")
	for p, src := range map[string]string{
		book: `play "quote" { hosts = "all"  roles = ["quote"] }`,
		filepath.Join(dir, "roles", "quote", "role.hcl"): `
variable "label" { default = "x" }
task "command" "write" {
  command = "printf '%s' ${shellquote(var.label)} > /root/label"
  unless  = "[ \"$(cat /root/label 2>/dev/null)\" = ${shellquote(var.label)} ]"
}
`,
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const label = `1.0'; touch /root/pwned; echo '$(touch /root/pwned2) "x" \n`
	r := skiff(t, "apply", "-i", inv, book, "--yes", "-e", "label="+label)
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	if out, _ := hostExec(t, c, "h1", "cat /root/label"); out != label {
		t.Errorf("written %q, want %q", out, label)
	}
	if out, code := hostExec(t, c, "h1", "ls /root/pwned /root/pwned2 2>&1"); code == 0 {
		t.Errorf("the value ran as a command: %s", out)
	}
	// unless compares through shellquote too: nothing left to do.
	if r := skiff(t, "plan", "-i", inv, book, "--detailed-exitcode", "-e", "label="+label); r.code != 0 {
		t.Errorf("plan after apply: exit %d\n%s", r.code, r.stdout)
	}
}
