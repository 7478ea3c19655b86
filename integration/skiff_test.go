// Package integration runs the real bin/skiff against real Debian test hosts
// (systemd, sshd) in Docker, built by integration/testhosts.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// skiffBin is the binary under test, built once by TestMain.
var skiffBin string

func TestMain(m *testing.M) {
	root, err := testhosts.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	skiffBin = filepath.Join(root, "bin", "skiff")
	build := exec.Command("go", "build", "-o", skiffBin, "./cmd/skiff")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building skiff: %v\n%s", err, out)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// result is skiff's --output json document.
type result struct {
	RunID   string `json:"run_id"`
	Mode    string `json:"mode"`
	Summary struct {
		OK, Changed, Failed, Unreachable int
	} `json:"summary"`
	Hosts []struct {
		Name    string `json:"name"`
		Status  string `json:"status"`
		Error   string `json:"error"`
		Changes []struct {
			Play, Role, Task, Action, Summary, Diff string
		} `json:"changes"`
	} `json:"hosts"`
}

func (r *result) host(name string) (status string, changes int, err string) {
	for _, h := range r.Hosts {
		if h.Name == name {
			return h.Status, len(h.Changes), h.Error
		}
	}
	return "absent", 0, ""
}

// run is one skiff invocation.
type run struct {
	code           int
	stdout, stderr string
	json           result
}

// skiff runs bin/skiff with args from the repository root (so playbooks/ and
// roles/ resolve as for a user) and decodes JSON output when asked for.
func skiff(t *testing.T, args ...string) run {
	t.Helper()
	root, _ := testhosts.RepoRoot()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, skiffBin, args...)
	cmd.Dir = root
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("skiff %s: %v", strings.Join(args, " "), err)
	}
	for _, a := range args {
		if a == "json" {
			if jerr := json.Unmarshal(out.Bytes(), &r.json); jerr != nil {
				t.Fatalf("skiff %s: stdout is not one JSON document: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), jerr, r.stdout, r.stderr)
			}
		}
	}
	t.Logf("skiff %s → exit %d\n%s", strings.Join(args, " "), r.code, tailLines(r.stderr, 30))
	return r
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startCluster starts hosts for one test and removes them at its end.
func startCluster(t *testing.T, hosts, clients []string) *testhosts.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs Docker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := testhosts.Start(ctx, testhosts.Options{
		Prefix:  testhosts.UniquePrefix(t.Name()),
		Hosts:   hosts,
		Clients: clients,
		Dir:     t.TempDir(),
		Logf:    t.Logf,
	})
	if err != nil {
		t.Fatalf("starting test hosts: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exec runs a command on a test host through Docker (not through skiff).
func hostExec(t *testing.T, c *testhosts.Cluster, host string, cmd string) (string, int) {
	t.Helper()
	out, code, err := c.Exec(context.Background(), host, "sh", "-c", cmd)
	if err != nil {
		t.Fatalf("exec on %s: %v", host, err)
	}
	return out, code
}
