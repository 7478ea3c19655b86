package engine

import (
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
)

// TestSameDelegated: only copies of one delegated task on hosts none of
// them reaches yet are made at once: not two instances on one host (they
// may edit the same file), not a task with retries, not another task.
func TestSameDelegated(t *testing.T) {
	role := &config.Role{Name: "lb_drain"}
	drain, other, retried := &config.Task{Name: "drain"}, &config.Task{Name: "other"}, &config.Task{Name: "r", Control: config.Control{Retries: 2}}
	lb1, lb2 := &inventory.Host{Name: "lb1"}, &inventory.Host{Name: "lb2"}
	bound := func(task *config.Task, target *inventory.Host) *Bound {
		return &Bound{Task: task, Role: role, Target: target}
	}
	for _, tc := range []struct {
		name  string
		tasks []*Bound
		want  bool
	}{
		{"copies on every lb host", []*Bound{bound(drain, lb1), bound(drain, lb2)}, true},
		{"two on one host", []*Bound{bound(drain, lb1), bound(drain, lb1)}, false},
		{"another task", []*Bound{bound(drain, lb1), bound(other, lb2)}, false},
		{"not delegated", []*Bound{bound(drain, nil), bound(drain, nil)}, false},
		{"with retries", []*Bound{bound(retried, lb1), bound(retried, lb2)}, false},
		{"no next task", []*Bound{bound(drain, lb1)}, false},
	} {
		if got := sameDelegated(tc.tasks, 0, 1); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	three := []*Bound{bound(drain, lb1), bound(drain, lb2), bound(drain, lb1)}
	if sameDelegated(three, 0, 2) {
		t.Error("a third copy on a host the group already reaches joins it")
	}
}
