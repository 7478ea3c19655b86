package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// skiff remembers, per host, the instances of the tasks with for_each
// that it manages there, in InstancesDir beside the inventory (one JSON
// file per host, written by apply). A run compares each role it runs on a
// host with what that file remembers for the role: an instance whose key
// left the for_each (or whose task is gone, or lost its for_each) is
// listed as no longer managed. skiff leaves it on the host as it is: the
// change only makes skiff forget it, and an apply writes the file without
// it. The journal cannot tell this: it records changes only, and an
// instance already in state when it was first declared changed nothing.

// managed maps a task of a role ("role/kind.name") to the keys of its
// instances that skiff manages on a host.
type managed map[string][]string

// instancesFile is what InstancesDir keeps for a host.
type instancesFile struct {
	Tasks managed `json:"tasks"`
}

// declaredInstances collects the for_each keys of a play's tasks on a
// host, by task ("role/kind.name").
type declaredInstances map[string][]string

func (d declaredInstances) add(t *config.Task, keys []string) {
	if keys != nil {
		d[t.Role+"/"+t.ID()] = keys
	}
}

// instancesPath is where InstancesDir keeps what skiff manages on host.
func (e *Engine) instancesPath(host string) string {
	return filepath.Join(e.InstancesDir, host+".json")
}

// loadManaged reads, once per run, the instances skiff manages on hr's
// host. Without a file, or without InstancesDir, it manages none yet.
func (e *Engine) loadManaged(hr *hostRun) error {
	if hr.managed != nil {
		return nil
	}
	hr.managed = managed{}
	if e.InstancesDir == "" {
		return nil
	}
	path := e.instancesPath(hr.host.Name)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var f instancesFile
	if err == nil {
		err = json.Unmarshal(data, &f)
	}
	if err != nil {
		return fmt.Errorf("reading the instances skiff manages on %s: %w (move %s aside to forget them)", hr.host.Name, err, path)
	}
	if f.Tasks != nil {
		hr.managed = f.Tasks
	}
	return nil
}

// forgotten returns, for play p on hr, a change per instance that skiff
// managed there under a role of p and that the play no longer declares.
func (e *Engine) forgotten(p *config.Play, hr *hostRun, declared declaredInstances) []plan.Change {
	var out []plan.Change
	for _, task := range sortedKeys(hr.managed) {
		role, id, _ := strings.Cut(task, "/")
		if !slices.Contains(p.Roles, role) {
			continue
		}
		for _, key := range hr.managed[task] {
			if !slices.Contains(declared[task], key) {
				out = append(out, plan.Change{
					Play: p.Name, Role: role, Task: config.InstanceID(id, key), Action: plan.Forget,
					Summary: "no longer managed: left on the host as it is",
				})
			}
		}
	}
	return out
}

// forget ends play p on hr, which succeeded: it lists the instances no
// longer declared as changes, and keeps what the play declared.
func (e *Engine) forget(ch changer, p *config.Play, hr *hostRun, declared declaredInstances) {
	if forgets := e.forgotten(p, hr, declared); len(forgets) > 0 {
		e.told.HostTasks(hr.host.Name, len(forgets))
		for _, c := range forgets {
			hr.out.Changes = append(hr.out.Changes, c)
			e.told.TaskDone(hr.host.Name, p.Name, c.Task, plan.StatusChanged, c.Summary)
		}
	}
	e.keepManaged(ch, hr, e.remember(p, hr, declared, true))
}

// remember records what play p declared on hr: for each of p's roles,
// its tasks' instances replace what was remembered, when the play
// succeeded; when it failed, they are added to it (what the play may
// have created stays remembered; nothing is forgotten). It returns the
// new state, nil when it is the same; hr.managed holds it for the run's
// later plays.
func (e *Engine) remember(p *config.Play, hr *hostRun, declared declaredInstances, ok bool) managed {
	next := managed{}
	for task, keys := range hr.managed {
		role, _, _ := strings.Cut(task, "/")
		if !ok || !slices.Contains(p.Roles, role) {
			next[task] = keys
		}
	}
	for task, keys := range declared {
		merged := slices.Concat(next[task], keys)
		sort.Strings(merged)
		if merged = slices.Compact(merged); len(merged) > 0 {
			next[task] = merged
		}
	}
	same := len(next) == len(hr.managed)
	for task, keys := range next {
		same = same && slices.Equal(keys, hr.managed[task])
	}
	hr.managed = next
	if same {
		return nil
	}
	return next
}

// keepManaged has ch keep what hr's host now manages, m, unless it is
// unchanged (nil); failing to only costs a warning: the next run may not
// list what this one forgot.
func (e *Engine) keepManaged(ch changer, hr *hostRun, m managed) {
	if m == nil {
		return
	}
	if err := ch.keepManaged(hr.host.Name, m); err != nil && e.Warn != nil {
		e.Warn("%s: keeping the instances skiff manages there: %v", hr.host.Name, err)
	}
}

// writeManaged keeps m as what skiff manages on host (an apply's).
func (e *Engine) writeManaged(host string, m managed) error {
	if e.InstancesDir == "" {
		return nil
	}
	if err := os.MkdirAll(e.InstancesDir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(instancesFile{Tasks: m}, "", "  ")
	if err != nil {
		return err
	}
	path := e.instancesPath(host)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func sortedKeys(m managed) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
