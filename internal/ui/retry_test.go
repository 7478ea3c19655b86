package ui

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A failed try of a task that is tried again is a line of its own, saying
// when, and why it failed, on a terminal or not.
func TestRetryLine(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var buf bytes.Buffer
		p := NewProgress(&buf, tty, false)
		p.PlayStarted("db", []string{"db1"})
		p.HostTasks("db1", 1)
		p.TaskRetrying("db1", "db", "command.wait", 2, 3*time.Second, "exit 1: not up")
		p.Close()
		if want := "db1          retry    command.wait: try 2 failed, checking again in 3s: exit 1: not up"; !strings.Contains(buf.String(), want) {
			t.Errorf("tty %v: missing %q in:\n%s", tty, want, buf.String())
		}
	}
}
