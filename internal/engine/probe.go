package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/wire"
)

// probeBatch runs the Probe fragments of many tasks in one remote script
// (see wire.ShProbes): one round trip however many tasks a host has.
func probeBatch(ctx context.Context, t transport.Transport, fragments []string) ([]module.Probed, error) {
	script, tok, n := wire.ShProbes(fragments)
	if n == 0 {
		return make([]module.Probed, len(fragments)), nil
	}
	res, err := t.Run(ctx, script)
	if err != nil {
		return nil, err
	}
	return parseFrames(res, tok, len(fragments), n)
}

// helperBatch runs the probes of items with the host's probe helper kept
// at path (see package hostprobe): natively where their kind allows, with
// sh otherwise. gone reports that the helper was not there: nothing ran.
func helperBatch(ctx context.Context, t transport.Transport, path string, items []probeItem, cpu bool) (out []module.Probed, gone bool, err error) {
	b, err := helperItems(items, cpu)
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

// helperItems is the helper's batch for items; with cpu, it asks for the
// helper's CPU account, each item named by its task's kind.
func helperItems(items []probeItem, cpu bool) (wire.ProbeBatch, error) {
	b := wire.ProbeBatch{Token: wire.NewToken(), CPU: cpu}
	for i, it := range items {
		if strings.TrimSpace(it.fragment) == "" {
			continue
		}
		hi := wire.ProbeItem{Index: i, Sh: it.fragment, Kind: it.kind}
		if cpu {
			hi.Task = it.task
		}
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
// probe batch printed.
func parseFrames(res transport.Result, tok wire.Token, size, n int) ([]module.Probed, error) {
	out, err := wire.ParseProbes(res.Stdout, tok, size, n)
	if err != nil {
		return nil, fmt.Errorf("%w (exit %d, stderr: %s)", err, res.ExitCode, tail(res.Stderr))
	}
	return out, nil
}

// probe runs items on host over conn: with the host's probe helper where
// it has one, else (or when it has gone since) with sh alone.
func (e *Engine) probe(ctx context.Context, host string, conn transport.Transport, items []probeItem) ([]module.Probed, error) {
	if path, ok := e.helpers.Load(host); ok {
		out, gone, err := helperBatch(ctx, conn, path.(string), items, e.ProbeCPU)
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
	task     string // the task's kind, which the helper's CPU account names
}

// itemOf is the probe of task b.
func itemOf(b *Bound) probeItem {
	m := b.Module
	it := probeItem{fragment: m.Probe(), task: b.Task.Kind}
	if n, ok := m.(module.NativeProber); ok {
		if kind, q, ok := n.NativeProbe(); ok {
			it.kind, it.query = kind, q
		}
	}
	return it
}

// token is a fresh random word (run ids, the lock guard's marker).
func token() string { return string(wire.NewToken()) }

// tail returns the last lines of b, for error messages (cut by
// shell.Last, so that the run's scrubbing still finds every secret).
func tail(b []byte) string {
	return shell.Last(strings.TrimSpace(string(b)), 600)
}
