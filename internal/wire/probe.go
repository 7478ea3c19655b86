package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
)

// A probe batch reads the state of many tasks on a host in one script:
// each task's output is the frame named by its index, whether sh ran its
// fragment (ShProbes) or the probe helper answered it (ProbeBatch).

// ProbeParallel bounds the probes running at once on a host.
const ProbeParallel = 16

// ProbeBatch is what the engine sends the probe helper, as JSON on its
// stdin: the tasks' probes and the token of the frames around each output.
type ProbeBatch struct {
	Token Token       `json:"token"`
	Items []ProbeItem `json:"items"`
	// CPU asks the helper to account, on its stderr, the CPU time of each
	// part of its work (see hostprobe.CPULine): a measurement, for the
	// benchmark and for debugging; the answers are the same.
	CPU bool `json:"cpu,omitempty"`
}

// ProbeItem is one task's probe: its sh fragment, and a native query when
// its kind has one.
type ProbeItem struct {
	Index int             `json:"i"`
	Sh    string          `json:"sh"`
	Kind  string          `json:"kind,omitempty"`
	Query json.RawMessage `json:"query,omitempty"`
	// Task is the task's kind, sent with CPU only: the name its CPU time
	// is accounted under.
	Task string `json:"task,omitempty"`
}

// ShProbes is the sh script that runs fragments (empty ones are skipped),
// its frames' token and the number of frames it prints. The fragments run
// concurrently (probes only read), at most ProbeParallel at a time, each
// in its own subshell with stdin closed, writing its frame to its own file
// in a private temporary folder; one cat then prints those files in
// order. Where no temporary folder can be made, they run one after
// another. The script never exits: more may follow it.
//
// A fragment costs the host two forks and whatever it runs itself: on a
// host with 30 tasks, a program started per fragment for framing would
// cost more than most of the fragments.
func ShProbes(fragments []string) (script string, t Token, n int) {
	t = NewToken()
	var funcs, parallel, serial strings.Builder
	var idx []string
	for i, f := range fragments {
		if strings.TrimSpace(f) == "" {
			continue
		}
		if n > 0 && n%ProbeParallel == 0 {
			parallel.WriteString("wait\n")
		}
		n++
		idx = append(idx, strconv.Itoa(i))
		fmt.Fprintf(&funcs, "p%d() {\n(\n%s\n)\n}\n", i, f)
		framed := t.Section(strconv.Itoa(i), fmt.Sprintf("p%d </dev/null", i))
		fmt.Fprintf(&parallel, "{\n%s} >\"$d/%d\" &\n", framed, i)
		serial.WriteString(framed)
	}
	var b strings.Builder
	b.WriteString(funcs.String())
	b.WriteString("if [ " + strconv.Itoa(n) + " -gt 1 ] && d=$(mktemp -d \"${TMPDIR:-/tmp}/skiff-probe.XXXXXX\" 2>/dev/null); then\n")
	b.WriteString("trap 'rm -rf \"$d\"' EXIT\ntrap 'exit 129' HUP\ntrap 'exit 130' INT\ntrap 'exit 143' TERM\n")
	b.WriteString(parallel.String())
	b.WriteString("wait\n")
	fmt.Fprintf(&b, "(cd \"$d\" && exec cat %s)\n", strings.Join(idx, " "))
	b.WriteString("else\n")
	b.WriteString(serial.String())
	b.WriteString("fi\n")
	return b.String(), t, n
}

// ParseProbes reads the n frames (of at most size tasks, by index) that a
// probe batch marked with t printed.
func ParseProbes(out []byte, t Token, size, n int) ([]module.Probed, error) {
	_, frames, err := Parse(out, t)
	if u, ok := err.(*Unfinished); ok {
		return nil, fmt.Errorf("probe of task %s did not finish", u.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("probe output: %w", err)
	}
	probed := make([]module.Probed, size)
	seen := make([]bool, size)
	for _, f := range frames {
		i, err := strconv.Atoi(f.Name)
		if err != nil || i < 0 || i >= size || seen[i] {
			return nil, fmt.Errorf("probe output is garbled near frame %q", f.Name)
		}
		seen[i] = true
		probed[i] = module.Probed{Stdout: append([]byte(nil), f.Body...), ExitCode: f.Exit}
	}
	if len(frames) != n {
		return nil, fmt.Errorf("probe returned %d of %d results", len(frames), n)
	}
	return probed, nil
}
