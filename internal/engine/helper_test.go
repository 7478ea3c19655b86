package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/module/builtin"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// The test binary stands in for skiff on the "host" when it is started
// with SKIFF_TEST_PROBE_HELPER set: it is then the probe helper.
func TestMain(m *testing.M) {
	if os.Getenv("SKIFF_TEST_PROBE_HELPER") != "" && len(os.Args) == 2 && os.Args[1] == hostprobe.Subcommand {
		os.Exit(hostprobe.Main(builtin.Answerers(), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// testHelper installs the test binary as the probe helper, at a path
// returned for e.helpers.
func testHelper(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "skiff-test")
	script := "#!/bin/sh\nSKIFF_TEST_PROBE_HELPER=1 exec " + exe + " \"$@\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func probeItems(t *testing.T) ([]probeItem, []string) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, []byte("on host\n"), 0o644)
	file := filestate.New(filestate.Spec{Path: f, Known: true, Content: []byte("wanted\n"), DigestDir: filepath.Join(dir, "d")})
	items := []probeItem{
		itemOf(&Bound{Task: &config.Task{Kind: "file"}, Module: file}),
		{fragment: "echo plain; exit 4"},
		{fragment: ""},
	}
	var want []string
	for _, it := range items {
		if it.fragment == "" {
			want = append(want, "")
			continue
		}
		out, err := probeBatch(context.Background(), &transporttest.Local{}, []string{it.fragment})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, string(out[0].Stdout))
	}
	return items, want
}

// With a helper on the host, one session runs it, and every task gets
// what its sh fragment prints.
func TestProbeThroughTheHelper(t *testing.T) {
	items, want := probeItems(t)
	if items[0].kind == "" {
		t.Fatal("the file task has no native probe")
	}
	e := &Engine{}
	e.helpers.Store("h", testHelper(t))
	lt := &transporttest.Local{}
	out, err := e.probe(context.Background(), "h", lt, items)
	if err != nil {
		t.Fatal(err)
	}
	if lt.Runs() != 1 {
		t.Errorf("%d sessions, want 1", lt.Runs())
	}
	for i := range items {
		if string(out[i].Stdout) != want[i] {
			t.Errorf("item %d: %q, want %q", i, out[i].Stdout, want[i])
		}
	}
	if out[1].ExitCode != 4 {
		t.Errorf("exit code %d, want 4", out[1].ExitCode)
	}
	if !strings.Contains(string(out[0].Stdout), "[content]") {
		t.Errorf("the file's content was not sent for the diff: %q", out[0].Stdout)
	}
}

// A helper that went away since the facts were read (another skiff build
// replaced it) costs a second round trip with sh, and is forgotten.
func TestProbeFallsBackToShWhenTheHelperIsGone(t *testing.T) {
	items, want := probeItems(t)
	e := &Engine{}
	e.helpers.Store("h", filepath.Join(t.TempDir(), "gone"))
	lt := &transporttest.Local{}
	out, err := e.probe(context.Background(), "h", lt, items)
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		if string(out[i].Stdout) != want[i] {
			t.Errorf("item %d: %q, want %q", i, out[i].Stdout, want[i])
		}
	}
	if lt.Runs() != 2 {
		t.Errorf("%d sessions, want 2 (helper, then sh)", lt.Runs())
	}
	if _, ok := e.helpers.Load("h"); ok {
		t.Errorf("the missing helper is still used")
	}
}

// The lock check's script carries the facts script in its session; the
// script's own output and exit code come back untouched, even when it
// exits early.
func TestFactsRideOnTheLockChecksScript(t *testing.T) {
	lt := &transporttest.Local{}
	r := &factsRider{Transport: lt, facts: "echo os_id=test; echo init=x"}
	res, err := r.Run(context.Background(), "echo held; printf 'no newline'; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "held\nno newline" || res.ExitCode != 3 {
		t.Errorf("the lock check saw %q exit %d", res.Stdout, res.ExitCode)
	}
	if !r.rode || r.err != nil || string(r.out.Stdout) != "os_id=test\ninit=x\n" || r.out.ExitCode != 0 {
		t.Errorf("facts: rode %v, err %v, out %q exit %d", r.rode, r.err, r.out.Stdout, r.out.ExitCode)
	}
	if _, err := r.Run(context.Background(), "echo second"); err != nil || lt.Runs() != 2 {
		t.Errorf("second run: %v, %d sessions", err, lt.Runs())
	}
	e := &Engine{}
	facts, err := e.readFacts("h", r.out)
	if err != nil || facts.GetAttr("os_id").AsString() != "test" {
		t.Errorf("facts %#v, %v", facts, err)
	}
}

// ProbeCPU asks the helper for its CPU account and names each item by its
// task's kind; without it the batch carries neither.
func TestHelperBatchAsksForTheCPUAccountOnlyWithProbeCPU(t *testing.T) {
	items, _ := probeItems(t)
	for _, cpu := range []bool{false, true} {
		b, err := helperItems(items, cpu)
		if err != nil {
			t.Fatal(err)
		}
		if b.CPU != cpu {
			t.Errorf("ProbeCPU %v: the batch asks for the account: %v", cpu, b.CPU)
		}
		want := ""
		if cpu {
			want = "file"
		}
		if b.Items[0].Task != want {
			t.Errorf("ProbeCPU %v: the file task's item is named %q, want %q", cpu, b.Items[0].Task, want)
		}
	}
}
