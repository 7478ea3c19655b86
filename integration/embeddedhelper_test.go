package integration

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// helperRole writes a file and manages a directory: probes the helper
// answers in process.
const helperRole = `task "directory" "app" {
  path = "/srv/embedded"
  mode = "0755"
}
task "file" "conf" {
  path    = "/srv/embedded/app.conf"
  content = "embedded = true\n"
  mode    = "0644"
}
`

// noHelperNote is what a skiff without a helper for its hosts says.
const noHelperNote = "carries no probe helper"

// TestEmbeddedProbeHelper runs skiff builds whose own binary cannot serve
// as the probe helper (dynamically linked, as a plain go build with cgo
// makes on Linux) against real hosts: without embedded helpers, skiff says
// so once and converges with sh probes; with the static Linux helper
// embedded as `make build` embeds it, apply installs that one (not skiff's
// own binary) and later probes run through it.
func TestEmbeddedProbeHelper(t *testing.T) {
	c := startCluster(t, []string{"h1", "h2"}, nil)
	root, err := testhosts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bins := t.TempDir()
	helper := filepath.Join(bins, "skiff-linux-amd64")
	goBuild(t, root, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}, "-trimpath", "-o", helper, "./cmd/skiff")
	helperGz := filepath.Join(bins, "skiff-linux-amd64.gz")
	gzipFile(t, helper, helperGz)
	// Its name beside it, as make writes it: a run names the helper by it.
	gz, err := os.ReadFile(helperGz)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(gz)
	helperID := helperGz + ".id"
	if err := os.WriteFile(helperID, []byte(hex.EncodeToString(sum[:8])+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(bins, "overlay.json")
	o, _ := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(root, "internal", "hostprobe", "helpers", "skiff-linux-amd64.gz"):    helperGz,
		filepath.Join(root, "internal", "hostprobe", "helpers", "skiff-linux-amd64.gz.id"): helperID,
	}})
	if err := os.WriteFile(overlay, o, 0o644); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(bins, "skiff-dynamic")
	goBuild(t, root, []string{"CGO_ENABLED=1"}, "-o", plain, "./cmd/skiff")
	embedding := filepath.Join(bins, "skiff-dynamic-embedding")
	goBuild(t, root, []string{"CGO_ENABLED=1"}, "-tags", "skiffhelpers", "-overlay", overlay, "-o", embedding, "./cmd/skiff")
	for _, b := range []string{plain, embedding} {
		if !dynamicallyLinked(t, b) {
			t.Fatalf("%s is static: it could serve as helper itself", b)
		}
	}

	dir := t.TempDir()
	for p, content := range map[string]string{
		filepath.Join(dir, "embedded.hcl"):                  `play "embedded" { hosts = "all"  roles = ["embedded"] }` + "\n",
		filepath.Join(dir, "roles", "embedded", "role.hcl"): helperRole,
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": nil, "h2": nil}, ""); err != nil {
		t.Fatal(err)
	}
	playbook := filepath.Join(dir, "embedded.hcl")
	hosts := []string{"h1", "h2"}

	t.Run("without embedded helpers: sh probes, said once", func(t *testing.T) {
		code, _, stderr := runBinary(t, plain, "apply", "-i", inv, playbook, "--yes")
		if code != 0 {
			t.Fatalf("apply: exit %d", code)
		}
		if n := strings.Count(stderr, noHelperNote); n != 1 {
			t.Errorf("the run says %d times that it has no probe helper, want once:\n%s", n, stderr)
		}
		for _, h := range hosts {
			if out, _ := hostExec(t, c, h, "ls -A /var/lib/skiff/helper 2>/dev/null"); strings.TrimSpace(out) != "" {
				t.Errorf("%s has a probe helper: %q", h, out)
			}
			if out, _ := hostExec(t, c, h, "cat /srv/embedded/app.conf"); out != "embedded = true\n" {
				t.Errorf("%s: app.conf holds %q", h, out)
			}
		}
		if code, stdout, _ := runBinary(t, plain, "plan", "-i", inv, playbook, "--detailed-exitcode"); code != 0 {
			t.Errorf("plan after apply: exit %d\n%s", code, stdout)
		}
	})

	t.Run("with the embedded helper: installed and used", func(t *testing.T) {
		// Drift on h1, so that the apply has a change to make there.
		if out, code := hostExec(t, c, "h1", "echo drifted > /srv/embedded/app.conf"); code != 0 {
			t.Fatalf("drifting h1: %s", out)
		}
		code, _, stderr := runBinary(t, embedding, "apply", "-i", inv, playbook, "--yes")
		if code != 0 {
			t.Fatalf("apply: exit %d", code)
		}
		if strings.Contains(stderr, noHelperNote) {
			t.Errorf("a skiff with its helper embedded says it has none:\n%s", stderr)
		}
		want := fileSHA256(t, helper)
		for _, h := range hosts {
			out, code := hostExec(t, c, h, "cd /var/lib/skiff/helper && ls && sha256sum skiff-*")
			if code != 0 {
				t.Fatalf("%s: no probe helper: %s", h, out)
			}
			if !strings.Contains(out, want) {
				t.Errorf("%s holds another helper than the embedded one (sha256 %s):\n%s", h, want, out)
			}
		}
		if out, _ := hostExec(t, c, "h1", "cat /srv/embedded/app.conf"); out != "embedded = true\n" {
			t.Errorf("h1: app.conf holds %q after apply", out)
		}
		// The helper leaves a mark when it runs; the first plan reads the
		// facts that say it is there, the second probes through it.
		for _, h := range hosts {
			if out, code := hostExec(t, c, h, `cd /var/lib/skiff/helper && b=$(ls) && mv "$b" real && printf '#!/bin/sh\ntouch /tmp/helper-ran\nexec /var/lib/skiff/helper/real "$@"\n' > "$b" && chmod 700 "$b"`); code != 0 {
				t.Fatalf("wrapping the helper on %s: %s", h, out)
			}
		}
		for i := 0; i < 2; i++ {
			if code, stdout, _ := runBinary(t, embedding, "plan", "-i", inv, playbook, "--detailed-exitcode"); code != 0 {
				t.Errorf("plan after apply: exit %d\n%s", code, stdout)
			}
		}
		for _, h := range hosts {
			if _, code := hostExec(t, c, h, "[ -e /tmp/helper-ran ]"); code != 0 {
				t.Errorf("the plans did not run the probe helper on %s", h)
			}
		}
	})
}

// goBuild builds skiff in root with env added.
func goBuild(t *testing.T, root string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func gzipFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	z.Write(data)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func dynamicallyLinked(t *testing.T, path string) bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// runBinary runs the skiff at bin with args, as skiff() runs bin/skiff.
func runBinary(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	t.Logf("%s %s → exit %d\n%s", filepath.Base(bin), strings.Join(args, " "), code, tailLines(errb.String(), 30))
	return code, out.String(), errb.String()
}
