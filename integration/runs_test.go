package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// runsDoc is skiff runs --output json.
type runsDoc struct {
	Runs []struct {
		ID           string     `json:"id"`
		Command      string     `json:"command"`
		Started      time.Time  `json:"started"`
		Ended        *time.Time `json:"ended"`
		Operator     string     `json:"operator"`
		SkiffVersion string     `json:"skiff_version"`
		HostsChanged []string   `json:"hosts_changed"`
		HostsFailed  []string   `json:"hosts_failed"`
		RolledBack   string     `json:"rolled_back"`
		RolledBackBy []string   `json:"rolled_back_by"`
	} `json:"runs"`
}

// builtVersion is what skiff should record as its version: the commit
// the Go toolchain stamped into bin/skiff, or "(devel)" without one.
func builtVersion(t *testing.T) *regexp.Regexp {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", skiffBin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	if m := regexp.MustCompile(`(?m)^\s*build\s+vcs\.revision=([0-9a-f]{12})`).FindStringSubmatch(string(out)); m != nil {
		return regexp.MustCompile(`^devel\+` + m[1] + `(\.dirty)?$`)
	}
	return regexp.MustCompile(`^\(devel\)$`)
}

// TestRunsAndRollbackHistory proves on a real host that rollback without
// --run takes the newest run that changed something (not a later no-op
// apply) and says which, that skiff runs lists the runs with their facts,
// and that a host keeps the backups of its last keep_runs runs only.
func TestRunsAndRollbackHistory(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, nil, `group "all" { keep_runs = 2 }`); err != nil {
		t.Fatal(err)
	}
	book := filepath.Join(dir, "playbooks", "runs.hcl")
	role := filepath.Join(dir, "roles", "runsfile", "role.hcl")
	for p, src := range map[string]string{
		book: `play "runs" { hosts = "all"  roles = ["runsfile"] }` + "\n",
		role: `variable "content" { default = "managed by skiff" }
task "file" "conf" {
  path    = "/etc/skiff-runs.conf"
  content = "${var.content}\n"
  mode    = "0644"
}
`,
	} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := func() string {
		out, _ := hostExec(t, c, "h1", "cat /etc/skiff-runs.conf")
		return out
	}
	apply := func(want string, args ...string) string {
		t.Helper()
		r := skiff(t, append([]string{"apply", "-i", inv, book, "--yes", "--output", "json"}, args...)...)
		if st, _, msg := r.json.host("h1"); r.code != 0 || st != want {
			t.Fatalf("apply %v: exit %d, h1 %s (want %s) %s", args, r.code, st, want, msg)
		}
		return r.json.RunID
	}
	runs := func() runsDoc {
		t.Helper()
		r := skiff(t, "runs", "-i", inv, "--output", "json")
		var doc runsDoc
		if err := json.Unmarshal([]byte(r.stdout), &doc); r.code != 0 || err != nil {
			t.Fatalf("skiff runs: exit %d, %v\n%s", r.code, err, r.stdout)
		}
		return doc
	}
	hostRuns := func() []string {
		out, code := hostExec(t, c, "h1", "ls -A /var/lib/skiff/runs")
		if code != 0 {
			t.Fatalf("ls /var/lib/skiff/runs: exit %d: %s", code, out)
		}
		return strings.Fields(out)
	}

	first := apply("changed")
	hostExec(t, c, "h1", "printf 'drifted by hand\\n' > /etc/skiff-runs.conf")
	restore := apply("changed")
	if got := conf(); got != "managed by skiff\n" {
		t.Fatalf("apply did not restore the file: %q", got)
	}
	noop := apply("ok")

	t.Run("rollback without --run undoes the run that restored the file, and says which", func(t *testing.T) {
		r := skiff(t, "rollback", "-i", inv, "--yes", "--output", "json")
		if r.code != 0 {
			t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
		}
		if st, n, msg := r.json.host("h1"); st != "changed" || n != 1 {
			t.Errorf("h1: %s, %d change(s) undone: %s", st, n, msg)
		}
		if got := conf(); got != "drifted by hand\n" {
			t.Errorf("after the rollback the file holds %q, want the content the restoring run replaced", got)
		}
		rollbackID := r.json.RunID

		doc := runs()
		var restoreStarted time.Time
		for _, r := range doc.Runs {
			if r.ID == restore {
				restoreStarted = r.Started
			}
		}
		want := "rolling back run " + restore + ", started " + restoreStarted.UTC().Format("2006-01-02 15:04:05 UTC")
		if restoreStarted.IsZero() || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, noop) {
			t.Errorf("rollback does not say it took %s (passing over %s):\n%s", want, noop, r.stderr)
		}
		if len(doc.Runs) != 3 || doc.Runs[0].ID != noop || doc.Runs[1].ID != restore || doc.Runs[2].ID != first {
			t.Fatalf("runs, newest first: %+v, want %s %s %s", doc.Runs, noop, restore, first)
		}
		u, _ := user.Current()
		hostname, _ := os.Hostname()
		operator := u.Username + "@" + hostname
		version := builtVersion(t)
		for _, r := range doc.Runs {
			if r.Command != "apply" || r.Operator != operator || !version.MatchString(r.SkiffVersion) ||
				r.Ended == nil || r.Ended.Before(r.Started) || r.HostsFailed == nil || len(r.HostsFailed) != 0 {
				t.Errorf("run %s: %+v (want operator %s, version %s)", r.ID, r, operator, version)
			}
		}
		n, rs := doc.Runs[0], doc.Runs[1]
		if len(n.HostsChanged) != 0 || n.RolledBack != "no" || len(n.RolledBackBy) != 0 {
			t.Errorf("the no-op run: %+v", n)
		}
		if !slices.Equal(rs.HostsChanged, []string{"h1"}) || rs.RolledBack != "yes" || !slices.Equal(rs.RolledBackBy, []string{rollbackID}) ||
			!rs.Started.Equal(restoreStarted) || !rs.Started.Before(n.Started) {
			t.Errorf("the restoring run: %+v (rolled back by %s)", rs, rollbackID)
		}
		text := skiff(t, "runs", "-i", inv).stdout
		if !regexp.MustCompile(`(?m)^`+restore+` .* 1 +0 +yes$`).MatchString(text) || !regexp.MustCompile(`(?m)^`+noop+` .* 0 +0 +-$`).MatchString(text) {
			t.Errorf("skiff runs:\n%s", text)
		}
	})

	t.Run("the host keeps the backups of its last keep_runs runs", func(t *testing.T) {
		var last []string
		for _, content := range []string{"v1", "v2", "v3"} {
			last = append(last, apply("changed", "-e", "content="+content))
		}
		want := slices.Clone(last[1:])
		slices.Sort(want)
		if got := hostRuns(); !slices.Equal(got, want) {
			t.Errorf("/var/lib/skiff/runs on h1 holds %v, want the last 2 runs %v", got, want)
		}
		r := skiff(t, "rollback", "-i", inv, "--run", first, "--yes", "--output", "json")
		st, _, msg := r.json.host("h1")
		if r.code != 1 || st != "failed" || !strings.Contains(msg, "run "+first+" can no longer be rolled back on h1") ||
			!strings.Contains(msg, "pruned") || !strings.Contains(msg, "keep_runs") {
			t.Errorf("rollback of a pruned run: exit %d, h1 %s: %s", r.code, st, msg)
		}
		if got := conf(); got != "v3\n" {
			t.Errorf("the refused rollback changed the file: %q", got)
		}
		// The newest run is still there to roll back.
		if r := skiff(t, "rollback", "-i", inv, "--yes"); r.code != 0 || !strings.Contains(r.stderr, "rolling back run "+last[2]) || conf() != "v2\n" {
			t.Errorf("rollback of the newest run: exit %d, file %q\n%s", r.code, conf(), r.stderr)
		}
	})
}
