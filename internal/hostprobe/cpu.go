package hostprobe

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"syscall"
	"time"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/wire"
)

// CPUEnv, set to anything in skiff's environment, makes its probe batches
// ask the helper for its CPU account (wire.ProbeBatch.CPU), which -vv
// shows with each session's stderr. It changes no answer.
const CPUEnv = "SKIFF_PROBE_CPU"

// CPUPrefix starts each line of the CPU account a batch with CPU set asks
// for, on the helper's stderr:
//
//	skiff probe helper cpu: start-up 3.1ms
//	skiff probe helper cpu: native unit 3 7.9ms
//	skiff probe helper cpu: sh command 1 6.4ms
//	skiff probe helper cpu: total 21.0ms
//
// start-up is the helper's own CPU time before it read the batch (the
// runtime and the packages' initialisation); a native line is the CPU time
// of one kind's answerer, with the programs it ran, for its n items; an sh
// line is that of the fragments of one task kind run with sh (those the
// answerers declined included), with what they started; total is all of
// the helper's, its children's included. Time a server spends answering
// (systemd for systemctl, the database for its client) is not the
// helper's: it is in the host's total only.
const CPUPrefix = "skiff probe helper cpu: "

// serveCounted answers b one part after another, so that each part's CPU
// time is its own, and writes the account to stderr. The answers are
// Serve's; only the order in which they are read differs.
func serveCounted(answerers map[string]module.NativeAnswerer, b wire.ProbeBatch, stderr io.Writer) []module.Probed {
	start := ownCPU()
	acct := map[string]*cpuPart{}
	add := func(name string, n int, d time.Duration) {
		p := acct[name]
		if p == nil {
			p = &cpuPart{}
			acct[name] = p
		}
		p.items += n
		p.cpu += d
	}
	results := make([]module.Probed, len(b.Items))
	byKind := map[string][]int{}
	var sh []int
	for i, it := range b.Items {
		if it.Kind != "" && answerers[it.Kind] != nil {
			byKind[it.Kind] = append(byKind[it.Kind], i)
		} else {
			sh = append(sh, i)
		}
	}
	logErr := func(p []byte) { _, _ = stderr.Write(p) }
	for _, kind := range sortedKeys(byKind) {
		idx := byKind[kind]
		queries := make([][]byte, len(idx))
		for k, i := range idx {
			queries[k] = b.Items[i].Query
		}
		before := ownCPU() + childrenCPU()
		answers := answer(answerers[kind], queries, logErr)
		add("native "+kind, len(idx), ownCPU()+childrenCPU()-before)
		for k, i := range idx {
			if k < len(answers) && answers[k].OK {
				results[i] = answers[k].Probed
			} else {
				sh = append(sh, i)
			}
		}
	}
	for _, i := range sh {
		var so, se bytes.Buffer
		var cpu time.Duration
		results[i], cpu = runSh(b.Items[i].Sh, &so, &se)
		logErr(se.Bytes())
		name := b.Items[i].Task
		if name == "" {
			name = "(unnamed)"
		}
		add("sh "+name, 1, cpu)
	}
	var w bytes.Buffer
	fmt.Fprintf(&w, "%sstart-up %s\n", CPUPrefix, ms(start))
	for _, name := range sortedKeys(acct) {
		fmt.Fprintf(&w, "%s%s %d %s\n", CPUPrefix, name, acct[name].items, ms(acct[name].cpu))
	}
	fmt.Fprintf(&w, "%stotal %s\n", CPUPrefix, ms(ownCPU()+childrenCPU()))
	logErr(w.Bytes())
	return results
}

type cpuPart struct {
	items int
	cpu   time.Duration
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ms prints d in milliseconds, to the microsecond.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000) }

// ownCPU is the helper's own user and system CPU time so far.
func ownCPU() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// childrenCPU is that of its children it waited for.
func childrenCPU() time.Duration { return rusage(syscall.RUSAGE_CHILDREN) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
