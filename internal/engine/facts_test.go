package engine

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The facts script reads the processor's name from /proc where the kernel
// has it, as sh's own read: no program started for it, the same value as
// uname -m.
func TestFactsReadTheArchWithoutAProgram(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/arch"); err != nil {
		t.Skip("this kernel has no /proc/sys/kernel/arch")
	}
	want, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Skip("no uname here")
	}
	cmd := exec.Command("/bin/sh", "-c", factsScript)
	cmd.Env = []string{"PATH=" + t.TempDir()} // no program can be found
	out, _ := cmd.Output()
	if !strings.Contains(string(out), "\narch="+strings.TrimSpace(string(want))+"\n") {
		t.Errorf("facts without any program on PATH:\n%s\nwant arch=%s", out, want)
	}
}
