package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// skiff validate refuses a -e name that nothing of the run declares or
// reads, names the flag and suggests the name meant; names declared or
// read anywhere pass.
func TestValidateRefusesUndeclaredExtraVar(t *testing.T) {
	t.Setenv("SKIFF_TEST_DB_PASSWORD", "s3cret")
	files := baseFiles()
	files["inv.hcl"] = strings.Replace(files["inv.hcl"], `groups  = ["web"]`, `groups  = ["web"]
  vars    = { weight = 3 }`, 1)
	files["roles/site/templates/conf.tftpl"] += "release ${var.release}\n" // read, declared nowhere

	code, _, errs := runValidateArgs(t, files, "-e", "release=2.0", "-e", "prot=8080")
	if code != 1 || !strings.Contains(errs, "error: Undeclared variable: -e prot:") || !strings.Contains(errs, "Did you mean port?") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	code, out, errs := runValidateArgs(t, files, "-e", "port=8080", "-e", "release=2.0", "-e", "weight=1")
	if code != 0 || errs != "" || !strings.Contains(out, "valid") {
		t.Fatalf("declared names: exit %d\n%s%s", code, out, errs)
	}
}

// The -e check comes before any connection: an apply with a misspelt name
// asks for no host at all, where the same apply with the right name does.
func TestApplyRefusesUndeclaredExtraVarBeforeConnecting(t *testing.T) {
	t.Setenv("SKIFF_TEST_DB_PASSWORD", "s3cret")
	dir := t.TempDir()
	files := baseFiles()
	files["inv.hcl"] = strings.Replace(files["inv.hcl"], `address = "10.0.0.1"`, `address = "127.0.0.1"
  port    = 1`, 1)
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	apply := func(extra string) (code int, stderr string, dialled []string) {
		var mu sync.Mutex
		var out, errb bytes.Buffer
		c := &console{in: strings.NewReader(""), out: &out, err: &errb, diags: &diagLog{}}
		root := newRoot(c, func(_ context.Context, h *inventory.Host) (transport.Transport, error) {
			mu.Lock()
			dialled = append(dialled, h.Name)
			mu.Unlock()
			return nil, &transport.UnreachableError{Host: h.Name, Err: errors.New("connection refused")}
		})
		root.SetArgs([]string{"apply", "-i", filepath.Join(dir, "inv.hcl"), filepath.Join(dir, "playbooks/site.hcl"), "--yes", "-e", extra})
		root.SetOut(&out)
		root.SetErr(&errb)
		err := root.ExecuteContext(context.Background())
		var ee exitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.code
		default:
			code = 1
			errb.WriteString("skiff: " + err.Error() + "\n")
		}
		return code, errb.String(), dialled
	}

	code, errs, dialled := apply("prot=8080")
	if code != 1 || !strings.Contains(errs, "-e prot:") || !strings.Contains(errs, "Did you mean port?") {
		t.Errorf("misspelt: exit %d\n%s", code, errs)
	}
	if len(dialled) > 0 || strings.Contains(errs, "connection refused") {
		t.Errorf("misspelt: skiff connected to %v before refusing the -e value\n%s", dialled, errs)
	}

	_, errs, dialled = apply("port=8080")
	if len(dialled) == 0 || strings.Contains(errs, "Undeclared") {
		t.Errorf("the right name: no connection attempted (%v)\n%s", dialled, errs)
	}
}
