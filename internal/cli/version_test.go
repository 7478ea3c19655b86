package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/version"
)

// skiff version and skiff --version say the version, the commit and the
// Go version; -o json says them as fields.
func TestVersion(t *testing.T) {
	v := version.Current()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := skiffMain(t, args...)
		if code != 0 || stderr != "" {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		for _, want := range []string{"skiff " + v.Version + "\n", "commit ", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%v prints %q, without %q", args, stdout, want)
			}
		}
	}
	code, stdout, _ := skiffMain(t, "version", "-o", "json")
	var got version.Info
	if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil {
		t.Fatalf("version -o json: exit %d, %v: %s", code, err, stdout)
	}
	if got != v {
		t.Errorf("version -o json = %+v, want %+v", got, v)
	}
}

// A saved plan and the journal of an apply record the skiff that wrote
// them, and skiff runs lists it; a plan saved by another skiff version is
// refused, naming both versions, before any host is read.
func TestVersionRecordedInPlansAndRuns(t *testing.T) {
	dir, out := savedSite(t)
	inv, playbook := filepath.Join(dir, "inv.hcl"), filepath.Join(dir, "playbooks/site.hcl")
	planFile := filepath.Join(dir, "site.plan")
	if code, stdout, stderr := runSkiff(t, "plan", "-i", inv, playbook, "--no-probe-helper", "--out", planFile); code != 0 {
		t.Fatalf("plan --out: exit %d\n%s\n%s", code, stdout, stderr)
	}
	raw, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var saved map[string]any
	if err := json.Unmarshal(raw, &saved); err != nil {
		t.Fatal(err)
	}
	if saved["skiff_version"] != version.String() {
		t.Fatalf("the saved plan records skiff_version %v, want %q", saved["skiff_version"], version.String())
	}

	for _, other := range []string{"v0.9.0", ""} {
		if other == "" {
			delete(saved, "skiff_version") // a plan of a skiff that did not record it
		} else {
			saved["skiff_version"] = other
		}
		b, _ := json.Marshal(saved)
		older := filepath.Join(dir, "older.plan")
		if err := os.WriteFile(older, b, 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runSkiff(t, "apply", older, "--yes")
		if code != 1 {
			t.Fatalf("apply of a plan saved by skiff %q: exit %d\n%s\n%s", other, code, stdout, stderr)
		}
		named := other
		if named == "" {
			named = version.Unknown
		}
		for _, want := range []string{"skiff " + named, "skiff " + version.String(), older} {
			if !strings.Contains(stderr, want) {
				t.Errorf("the refusal does not say %q:\n%s", want, stderr)
			}
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("the refused plan wrote %d file(s) on the host", len(entries))
		}
	}

	if code, stdout, stderr := runSkiff(t, "apply", planFile, "--yes"); code != 0 {
		t.Fatalf("apply of the plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr := runSkiff(t, "runs", "-i", inv, "--output", "json")
	var runs struct {
		Runs []struct {
			SkiffVersion string `json:"skiff_version"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(stdout), &runs); code != 0 || err != nil {
		t.Fatalf("runs: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if len(runs.Runs) != 1 || runs.Runs[0].SkiffVersion != version.String() {
		t.Errorf("runs lists %+v, want one run of skiff %s", runs.Runs, version.String())
	}
}
