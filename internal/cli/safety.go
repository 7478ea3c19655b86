package cli

import (
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/lock"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/version"
)

// owner names the operator in locks and journals: user@machine.
func owner() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// runsDir is where journals live: .skiff/runs beside the inventory.
func (ld *loaded) runsDir() string { return filepath.Join(ld.invCfg.Dir, ".skiff", "runs") }

// newLocks are the deploy locks of run runID of command; they warn on c.
func newLocks(c *console, runID, command string) *lock.Run {
	return lock.NewRun(lock.Options{RunID: runID, Command: command, Owner: owner(), Warn: c.warnf})
}

// reportLost tells, at the end of a run, of every lock it lost: each such
// host fails (it is added to p when it was only a delegate), and stderr
// names the host and who holds its lock now.
func reportLost(c *console, lk *lock.Run, p *plan.Plan) {
	lost := lk.Lost()
	if len(lost) == 0 {
		return
	}
	hosts := slices.Sorted(maps.Keys(lost))
	for _, name := range hosts {
		err := lost[name]
		fmt.Fprintf(c.err, "skiff: %v\n", err)
		i := slices.IndexFunc(p.Hosts, func(h *plan.Host) bool { return h.Name == name })
		switch {
		case i < 0:
			p.Hosts = append(p.Hosts, &plan.Host{Name: name, Status: plan.StatusFailed, Error: err.Error()})
		case p.Hosts[i].Error == "":
			p.Hosts[i].Status, p.Hosts[i].Error = plan.StatusFailed, err.Error()
		}
	}
	fmt.Fprintf(c.err, "skiff: the run stopped when it noticed that it lost the deploy lock of %s: no task ran after that, and interrupted plays were rolled back only where it still held the lock\n", strings.Join(hosts, ", "))
	p.Finish()
}

// startJournal opens the journal of ld's run of command with inventory
// and playbook.
func startJournal(ld *loaded, command, inventory, playbook string) (*journal.Writer, error) {
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, _ := filepath.Abs(p)
		return a
	}
	w, err := journal.Create(ld.runsDir(), journal.Run{
		ID: ld.engine.RunID, Command: command, Owner: owner(), Inventory: abs(inventory),
		Playbook: abs(playbook), Started: time.Now().UTC(), Version: version.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot record the run: %w", err)
	}
	return w, nil
}

// outcome is how an apply that returned p ended, for its journal.
func outcome(p *plan.Plan, refused []string) journal.Outcome {
	o := journal.Outcome{Ended: time.Now().UTC(), Failed: []string{}}
	for _, h := range p.Hosts {
		if h.Status == plan.StatusFailed || h.Status == plan.StatusUnreachable {
			o.Failed = append(o.Failed, h.Name)
		}
	}
	for _, name := range refused {
		if !slices.Contains(o.Failed, name) {
			o.Failed = append(o.Failed, name)
		}
	}
	return o
}
