package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// probeBatch runs the Probe fragments of many tasks in one remote script:
// one round trip however many tasks a host has. Each fragment's output is
// framed by markers carrying a random token, so no output can be mistaken
// for a frame. The fragments run concurrently (probes only read; see
// module.Module), at most probeParallel at a time, each in its own
// subshell with stdin closed, writing its framed output to its own file in
// a private temporary folder; one cat then prints those files in order.
// Where no temporary folder can be made, they run one after another.
//
// A fragment costs the host two forks and whatever it runs itself: on a
// host with 30 tasks, a program started per fragment for framing would
// cost more than most of the fragments.
func probeBatch(ctx context.Context, t transport.Transport, fragments []string) ([]module.Probed, error) {
	script, tok, n := shBatch(fragments)
	if n == 0 {
		return make([]module.Probed, len(fragments)), nil
	}
	res, err := t.Run(ctx, script)
	if err != nil {
		return nil, err
	}
	return parseFrames(res, tok, len(fragments), n)
}

// shBatch is probeBatch's script, its frames' token and the number of
// non-empty fragments in it.
func shBatch(fragments []string) (script, tok string, n int) {
	tok = token()
	var funcs, parallel, serial strings.Builder
	for i, f := range fragments {
		if strings.TrimSpace(f) == "" {
			continue
		}
		if n > 0 && n%probeParallel == 0 {
			parallel.WriteString("wait\n")
		}
		n++
		fmt.Fprintf(&funcs, "p%d() {\n(\n%s\n)\n}\n", i, f)
		framed := fmt.Sprintf("printf '@@%s begin %d\\n'; p%d </dev/null; printf '\\n@@%s end %d %%d\\n' \"$?\"", tok, i, i, tok, i)
		fmt.Fprintf(&parallel, "{ %s; } >\"$d/%d\" &\n", framed, i)
		fmt.Fprintf(&serial, "%s\n", framed)
	}
	var b strings.Builder
	b.WriteString(funcs.String())
	b.WriteString("if [ " + strconv.Itoa(n) + " -gt 1 ] && d=$(mktemp -d \"${TMPDIR:-/tmp}/skiff-probe.XXXXXX\" 2>/dev/null); then\n")
	b.WriteString("trap 'rm -rf \"$d\"' EXIT\ntrap 'exit 129' HUP\ntrap 'exit 130' INT\ntrap 'exit 143' TERM\n")
	b.WriteString(parallel.String())
	b.WriteString("wait\n")
	fmt.Fprintf(&b, "(cd \"$d\" && exec cat %s)\n", indexList(fragments))
	b.WriteString("else\n")
	b.WriteString(serial.String())
	b.WriteString("fi\n")
	return b.String(), tok, n
}

// helperBatch runs the probes of items with the host's probe helper kept
// at path (see package hostprobe): natively where their kind allows, with
// sh otherwise. gone reports that the helper was not there: nothing ran.
func helperBatch(ctx context.Context, t transport.Transport, path string, items []probeItem) (out []module.Probed, gone bool, err error) {
	b, err := helperItems(items)
	if err != nil || len(b.Items) == 0 {
		return make([]module.Probed, len(items)), false, err
	}
	script, err := hostprobe.Script(path, b)
	if err != nil {
		return nil, false, err
	}
	res, err := t.Run(ctx, script)
	if err != nil {
		return nil, false, err
	}
	if res.ExitCode == 127 && len(res.Stdout) == 0 {
		return nil, true, nil
	}
	out, err = parseFrames(res, b.Token, len(items), len(b.Items))
	return out, false, err
}

// helperItems is the helper's batch for items.
func helperItems(items []probeItem) (hostprobe.Batch, error) {
	b := hostprobe.Batch{Token: token()}
	for i, it := range items {
		if strings.TrimSpace(it.fragment) == "" {
			continue
		}
		hi := hostprobe.Item{Index: i, Sh: it.fragment, Kind: it.kind}
		if it.kind != "" {
			q, err := json.Marshal(it.query)
			if err != nil {
				return b, fmt.Errorf("encoding a native probe: %w", err)
			}
			hi.Query = q
		}
		b.Items = append(b.Items, hi)
	}
	return b, nil
}

// parseFrames reads the n framed outputs (of at most size tasks) that a
// batch printed.
func parseFrames(res transport.Result, tok string, size, n int) ([]module.Probed, error) {
	out := make([]module.Probed, size)
	seen := 0
	rest := res.Stdout
	for len(rest) > 0 {
		begin := []byte("@@" + tok + " begin ")
		i := bytes.Index(rest, begin)
		if i < 0 {
			break
		}
		rest = rest[i+len(begin):]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			break
		}
		idx, err := strconv.Atoi(string(rest[:nl]))
		if err != nil || idx < 0 || idx >= len(out) {
			return nil, fmt.Errorf("probe output is garbled near %q", rest[:nl])
		}
		rest = rest[nl+1:]
		end := []byte(fmt.Sprintf("\n@@%s end %d ", tok, idx))
		j := bytes.Index(rest, end)
		if j < 0 {
			return nil, fmt.Errorf("probe of task %d did not finish (stderr: %s)", idx, tail(res.Stderr))
		}
		body := rest[:j]
		rest = rest[j+len(end):]
		nl = bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("probe output is truncated")
		}
		rc, _ := strconv.Atoi(string(rest[:nl]))
		rest = rest[nl+1:]
		out[idx] = module.Probed{Stdout: append([]byte(nil), body...), ExitCode: rc}
		seen++
	}
	if seen != n {
		return nil, fmt.Errorf("probe returned %d of %d results (exit %d, stderr: %s)", seen, n, res.ExitCode, tail(res.Stderr))
	}
	return out, nil
}

// probe runs items on host over conn: with the host's probe helper where
// it has one, else (or when it has gone since) with sh alone.
func (e *Engine) probe(ctx context.Context, host string, conn transport.Transport, items []probeItem) ([]module.Probed, error) {
	if path, ok := e.helpers.Load(host); ok {
		out, gone, err := helperBatch(ctx, conn, path.(string), items)
		if !gone {
			return out, err
		}
		e.helpers.Delete(host)
	}
	return probeBatch(ctx, conn, fragments(items))
}

// fragments are the items' sh fragments.
func fragments(items []probeItem) []string {
	frags := make([]string, len(items))
	for i, it := range items {
		frags[i] = it.fragment
	}
	return frags
}

// probeItem is one task's probe: its sh fragment and, where its kind has
// one, the query the host's probe helper answers natively.
type probeItem struct {
	fragment string
	kind     string
	query    any
}

// itemOf is m's probe.
func itemOf(m module.Module) probeItem {
	it := probeItem{fragment: m.Probe()}
	if n, ok := m.(module.NativeProber); ok {
		if kind, q, ok := n.NativeProbe(); ok {
			it.kind, it.query = kind, q
		}
	}
	return it
}

// probeParallel bounds the probes running at once on a host.
const probeParallel = 16

// indexList is the indexes of the non-empty fragments, space-separated.
func indexList(fragments []string) string {
	var idx []string
	for i, f := range fragments {
		if strings.TrimSpace(f) != "" {
			idx = append(idx, strconv.Itoa(i))
		}
	}
	return strings.Join(idx, " ")
}

func token() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the last lines of b, for error messages (cut by
// shell.Last, so that the run's scrubbing still finds every secret).
func tail(b []byte) string {
	return shell.Last(strings.TrimSpace(string(b)), 600)
}
