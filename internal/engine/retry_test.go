package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// flaky is a test module: the file at path exists. Its Apply notes each
// try in path.tries; the tries before the fails+1-th fail (the last of
// them after creating path when landFailing is set: a try that fails
// after it converged the host).
type flaky struct {
	path        string
	fails       int
	landFailing bool
}

func (m *flaky) Probe() string { return fmt.Sprintf("test -e %q && echo present", m.path) }
func (m *flaky) Check(p module.Probed) (*module.Change, error) {
	if strings.TrimSpace(string(p.Stdout)) == "present" {
		return nil, nil
	}
	return &module.Change{Action: plan.Create, Summary: "create " + m.path}, nil
}
func (m *flaky) Apply(ctx context.Context, t transport.Transport) error {
	res, err := t.Run(ctx, fmt.Sprintf("echo try >> %q; wc -l < %q", m.path+".tries", m.path+".tries"))
	if err != nil {
		return err
	}
	var n int
	fmt.Sscan(string(res.Stdout), &n)
	if n <= m.fails {
		if m.landFailing {
			os.WriteFile(m.path, nil, 0o644)
		}
		return errors.New("not yet")
	}
	return os.WriteFile(m.path, nil, 0o644)
}

// retryFixture is newFixture with "touch" tasks made flaky (failing fails
// times; see flaky), on host a alone.
func retryFixture(t *testing.T, role string, fails int, landFailing bool) *fixture {
	t.Helper()
	f := newFixture(t, role, "")
	f.eng.Hosts = f.eng.Inventory.Hosts[:1]
	f.eng.Registry["touch"] = func(a *module.Args) module.Module {
		return &flaky{path: filepath.Join(f.dir, a.String("path", true)), fails: fails, landFailing: landFailing}
	}
	return f
}

func triesOf(t *testing.T, path string) int {
	t.Helper()
	b, _ := os.ReadFile(path + ".tries")
	return bytes.Count(b, []byte("\n"))
}

// A task that fails twice, with retries = 3, takes three tries and
// succeeds; its change and the recap say so.
func TestRetriesUntilTheApplySucceeds(t *testing.T) {
	f := retryFixture(t, `task "touch" "up" {
  path    = "up"
  retries = 3
  delay   = "0s"
}`, 2, false)
	p := f.eng.Apply(context.Background(), f.ch)
	if p.Failed() || len(p.Hosts[0].Changes) != 1 {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	if got := triesOf(t, filepath.Join(f.dir, "up")); got != 3 {
		t.Errorf("applied %d times, want 3", got)
	}
	if c := p.Hosts[0].Changes[0]; c.Tries != 3 {
		t.Errorf("the change records %d tries, want 3", c.Tries)
	}
	var text, recap bytes.Buffer
	plan.WriteText(&text, p)
	plan.WriteRecap(&recap, p)
	if !strings.Contains(text.String(), "touch.up: create") || !strings.Contains(text.String(), "(took 3 tries)") {
		t.Errorf("the change's line does not say its tries:\n%s", text.String())
	}
	if !strings.Contains(recap.String(), "p/r touch.up: took 3 tries") {
		t.Errorf("the recap does not say the tries:\n%s", recap.String())
	}
}

// Retries run out: the host fails, and its error says how many tries.
func TestRetriesRunOut(t *testing.T) {
	f := retryFixture(t, `task "touch" "up" {
  path    = "up"
  retries = 1
  delay   = "0s"
}`, 5, false)
	p := f.eng.Apply(context.Background(), f.ch)
	if !p.Failed() {
		t.Fatalf("apply succeeded: %+v", p.Hosts[0])
	}
	if got := triesOf(t, filepath.Join(f.dir, "up")); got != 2 {
		t.Errorf("applied %d times, want 2", got)
	}
	if err := p.Hosts[0].Error; !strings.Contains(err, "failed 2 tries") || !strings.Contains(err, "not yet") {
		t.Errorf("error %q does not say the tries and the last failure", err)
	}
}

// Without retries a failed apply is tried once.
func TestNoRetriesTriesOnce(t *testing.T) {
	f := retryFixture(t, `task "touch" "up" { path = "up" }`, 1, false)
	p := f.eng.Apply(context.Background(), f.ch)
	if !p.Failed() || triesOf(t, filepath.Join(f.dir, "up")) != 1 {
		t.Fatalf("want one failed try: %+v", p.Hosts[0])
	}
	if strings.Contains(p.Hosts[0].Error, "tries") {
		t.Errorf("error of a task without retries speaks of tries: %q", p.Hosts[0].Error)
	}
}

// A try that fails but leaves the host converged: the check before the
// next try finds nothing to do, and the task stops there, done.
func TestRetryStopsWhenTheCheckFindsItConverged(t *testing.T) {
	f := retryFixture(t, `task "touch" "up" {
  path    = "up"
  retries = 5
  delay   = "0s"
}`, 3, true)
	p := f.eng.Apply(context.Background(), f.ch)
	if p.Failed() {
		t.Fatalf("apply failed: %+v", p.Hosts[0])
	}
	if got := triesOf(t, filepath.Join(f.dir, "up")); got != 1 {
		t.Errorf("applied %d times, want 1: the check after the first try finds the file", got)
	}
}

// An if_changed task runs whatever its own check finds: a check that finds
// nothing to do after its failed try does not end its retries.
func TestRetriesOfAGatedTask(t *testing.T) {
	f := retryFixture(t, `
task "rtouch" "a" { path = "a" }
task "touch" "gated" {
  path       = "up"
  if_changed = ["rtouch.a"]
  retries    = 2
  delay      = "0s"
}`, 1, false)
	t.Chdir(f.dir)
	os.WriteFile(filepath.Join(f.dir, "up"), nil, 0o644)
	p := f.eng.Apply(context.Background(), f.ch)
	if p.Failed() || len(p.Hosts[0].Changes) != 2 {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	if got := triesOf(t, filepath.Join(f.dir, "up")); got != 2 || p.Hosts[0].Changes[1].Tries != 2 {
		t.Errorf("applied %d times (change says %d), want 2", got, p.Hosts[0].Changes[1].Tries)
	}
}

// retryCanceller is an Observer that notes each retry and interrupts the
// run at the first.
type retryCanceller struct {
	nopObserver
	cancel  context.CancelFunc
	retries []string
}

func (o *retryCanceller) TaskRetrying(host, play, task string, try int, wait time.Duration, err string) {
	o.retries = append(o.retries, fmt.Sprintf("%s %s try %d in %s: %s", host, task, try, wait, err))
	o.cancel()
}

// The progress hears of each retry; an interrupted run (Ctrl-C) starts no
// further try, even in the middle of a long delay.
func TestInterruptedWhileWaitingToRetry(t *testing.T) {
	f := retryFixture(t, `task "touch" "up" {
  path    = "up"
  retries = 3
  delay   = "1h"
}`, 5, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	obs := &retryCanceller{cancel: cancel}
	f.eng.Observer = obs
	p := f.eng.Apply(ctx, f.ch)
	if !p.Failed() || !strings.Contains(p.Hosts[0].Error, "interrupted before try 2") {
		t.Fatalf("apply: %+v", p.Hosts[0])
	}
	if got := triesOf(t, filepath.Join(f.dir, "up")); got != 1 {
		t.Errorf("applied %d times, want 1", got)
	}
	if len(obs.retries) != 1 || obs.retries[0] != "a touch.up try 1 in 1h0m0s: not yet" {
		t.Errorf("the observer heard %q", obs.retries)
	}
}

// A plan never applies, so never retries.
func TestPlanDoesNotRetry(t *testing.T) {
	f := retryFixture(t, `task "touch" "up" {
  path    = "up"
  retries = 3
  delay   = "0s"
}`, 2, false)
	p := f.eng.Plan(context.Background())
	if p.Failed() || len(p.Hosts[0].Changes) != 1 || p.Hosts[0].Changes[0].Tries != 0 {
		t.Fatalf("plan: %+v", p.Hosts[0])
	}
	if got := triesOf(t, filepath.Join(f.dir, "up")); got != 0 {
		t.Errorf("plan applied %d times", got)
	}
}
