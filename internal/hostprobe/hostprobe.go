// Package hostprobe is skiff's on-host probe helper: the skiff binary
// itself, copied to a host whose system and processor match the machine
// skiff runs on, and started there once per probe batch. It answers the
// reads of the common kinds (files, directories, links, services) in
// process, where the sh fragments start a program or more per read, and
// runs every other task's fragment with sh, concurrently. Its output is
// framed exactly like the sh batch's (package wire), so the engine reads
// both alike.
//
// The helper only reads. Where it is absent (another system or processor
// on the laptop, a plan before the first apply) the engine sends the sh
// batch: the helper is a shortcut, never needed.
package hostprobe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/wire"
)

// Subcommand is the skiff subcommand that runs the helper (hidden from help).
const Subcommand = "probe-helper"

// Serve reads a wire.ProbeBatch from in and writes every item's output to
// out, in order, each in the frame named by its index. answerers are the native kinds it knows (the kinds' registry
// lists them); the items of other kinds run as sh. Fragments' stderr goes
// to stderr.
func Serve(answerers map[string]module.NativeAnswerer, in io.Reader, out, stderr io.Writer) error {
	var b wire.ProbeBatch
	if err := json.NewDecoder(in).Decode(&b); err != nil {
		return fmt.Errorf("reading the probe batch: %w", err)
	}
	if b.CPU {
		return writeFrames(b, serveCounted(answerers, b, stderr), out)
	}
	results := make([]module.Probed, len(b.Items))
	var errMu sync.Mutex
	logErr := func(p []byte) {
		errMu.Lock()
		_, _ = stderr.Write(p) // the caller reports the batch; a lost line of stderr changes nothing
		errMu.Unlock()
	}
	// Fragments run as sh, at most parallel at a time.
	var wg sync.WaitGroup
	sem := make(chan struct{}, wire.ProbeParallel)
	runFragment := func(i int) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var so, se bytes.Buffer
			results[i], _ = runSh(b.Items[i].Sh, &so, &se)
			if se.Len() > 0 {
				logErr(se.Bytes())
			}
		}()
	}
	// The items without a native answer start at once; meanwhile each
	// native kind answers its items, and those it declines run as sh too.
	byKind := map[string][]int{}
	var plain []int
	for i, it := range b.Items {
		if it.Kind != "" && answerers[it.Kind] != nil {
			byKind[it.Kind] = append(byKind[it.Kind], i)
		} else {
			plain = append(plain, i)
		}
	}
	declined := make(chan int, len(b.Items))
	var natives sync.WaitGroup
	for kind, idx := range byKind {
		natives.Add(1)
		go func() {
			defer natives.Done()
			queries := make([][]byte, len(idx))
			for k, i := range idx {
				queries[k] = b.Items[i].Query
			}
			answers := answer(answerers[kind], queries, logErr)
			for k, i := range idx {
				if k < len(answers) && answers[k].OK {
					results[i] = answers[k].Probed
				} else {
					declined <- i
				}
			}
		}()
	}
	go func() { natives.Wait(); close(declined) }()
	for _, i := range plain {
		runFragment(i)
	}
	for i := range declined {
		runFragment(i)
	}
	wg.Wait()
	return writeFrames(b, results, out)
}

// writeFrames writes every item's result in its frame, in order.
func writeFrames(b wire.ProbeBatch, results []module.Probed, out io.Writer) error {
	var w []byte
	for i, it := range b.Items {
		w = b.Token.AppendFrame(w, strconv.Itoa(it.Index), results[i].Stdout, results[i].ExitCode)
	}
	_, err := out.Write(w)
	return err
}

// Script is the remote sh script that runs b with the helper kept at
// path: the batch, one line of JSON, is the helper's stdin. It exits 127
// without output when the helper is not there.
func Script(path string, b wire.ProbeBatch) (string, error) {
	cmd, err := Invocation(path, b)
	if err != nil {
		return "", err
	}
	return "[ -x " + shell.Quote(path) + " ] || exit 127\nexec " + cmd, nil
}

// Invocation is the sh command (with its here-document) that runs b with
// the helper kept at path, for a script that goes on after it.
func Invocation(path string, b wire.ProbeBatch) (string, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return "", err
	}
	return wire.Heredoc(shell.Quote(path)+" "+Subcommand, string(data)), nil
}

// answer runs an answerer; one that panics answers nothing, and its
// items run as sh: a native shortcut must never cost a probe.
func answer(a module.NativeAnswerer, queries [][]byte, logErr func([]byte)) (out []module.NativeAnswer) {
	defer func() {
		if r := recover(); r != nil {
			logErr(fmt.Appendf(nil, "skiff probe helper: %v (running the sh probes instead)\n", r))
			out = nil
		}
	}()
	return a(queries)
}

// runSh runs fragment with sh as the sh batch runs it: in a subshell,
// stdin closed. The fragment reaches sh on its stdin, never in its argv,
// which every local user can read: a command's env values (secrets among
// them) are exported inside the fragment. sh parses the whole subshell
// before running it, so nothing in it reads the rest of the script.
// It returns too the CPU time sh and what it started took.
func runSh(fragment string, stdout, stderr *bytes.Buffer) (module.Probed, time.Duration) {
	cmd := exec.Command("sh", "-s")
	cmd.Stdin = strings.NewReader("(\n" + fragment + "\n) </dev/null\n")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	p := module.Probed{Stdout: stdout.Bytes()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.ExitCode = 128 + int(ws.Signal())
		} else {
			p.ExitCode = ee.ExitCode()
		}
	default:
		fmt.Fprintf(stderr, "skiff probe helper: %v\n", err)
		p.ExitCode = 127
	}
	return p, cpu
}

// Main is the helper's entry point: skiff probe-helper, the batch on
// stdin, answered natively with answerers where they allow.
func Main(answerers map[string]module.NativeAnswerer, stdin io.Reader, stdout, stderr io.Writer) int {
	if err := Serve(answerers, stdin, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "skiff probe helper:", err)
		return 1
	}
	return 0
}
