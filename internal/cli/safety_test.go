package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/lock"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// A lock the run lost fails its host at the end of the run, and stderr
// names the host and who holds its lock now.
func TestReportLostFailsTheHostAndNamesTheHolder(t *testing.T) {
	ctx := context.Background()
	store := lock.Store{Dir: filepath.Join(t.TempDir(), "skiff")}
	lk := lock.NewRun(lock.Options{RunID: "20260102T120000-new", Command: "apply", Owner: owner(), Store: store})
	t.Cleanup(lk.Release)
	if err := lk.Take(ctx, "web1", &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ForceRelease(ctx, &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	bob := lock.Info{Owner: "bob@desk", RunID: "20260102T130000-bob", Command: "apply", PID: 7}
	if _, _, err := store.Acquire(ctx, &transporttest.Local{}, "web1", bob, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := lk.Confirm(ctx, "web1"); err == nil {
		t.Fatal("Confirm found the lock still held")
	}
	lk.Release()
	p := &plan.Plan{Hosts: []*plan.Host{{Name: "web1", Changes: []plan.Change{{Summary: "before"}}}, {Name: "web2"}}}
	p.Finish()
	var stderr bytes.Buffer
	reportLost(&console{err: &stderr}, lk, p)
	if !p.Failed() || p.Hosts[0].Status != plan.StatusFailed || !strings.Contains(p.Hosts[0].Error, "web1: deploy lock lost: now held by bob@desk") || p.Hosts[1].Status != plan.StatusOK {
		t.Errorf("plan after the loss: %+v %+v", *p.Hosts[0], *p.Hosts[1])
	}
	if !strings.Contains(stderr.String(), "skiff: web1: deploy lock lost: now held by bob@desk (run 20260102T130000-bob, apply)") {
		t.Errorf("stderr: %s", stderr.String())
	}
}
