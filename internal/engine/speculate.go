package engine

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/wire"
)

// An apply sends, in the session that takes a host's lock and reads its
// facts, the probes of every task the run will check there, as bound with
// the facts the last run found (kept in FactsDir). A result is kept for
// the fragment it answers, whatever facts produced it: a task bound with
// the fresh facts uses it only when its probe is the very same fragment,
// so stale facts cost a round trip, never a wrong result. When the facts
// are unchanged (the common case), a run that changes nothing needs that
// session and the lock's release: two per host.

// factsFile is where host's facts are kept.
func (e *Engine) factsFile(host string) string {
	return filepath.Join(e.FactsDir, host+".facts")
}

// keptFacts are host's facts as the last run read them (the facts script's
// output): ok is false when there are none.
func (e *Engine) keptFacts(host string) (raw string, facts cty.Value, helper bool, ok bool) {
	if e.FactsDir == "" {
		return "", cty.NilVal, false, false
	}
	data, err := os.ReadFile(e.factsFile(host))
	if err != nil {
		return "", cty.NilVal, false, false
	}
	facts, helper = parseFacts(string(data))
	return string(data), facts, helper, true
}

// keepFacts writes what the facts script printed on host, when it differs
// from what is kept. Failing to keep them only costs speed.
func (e *Engine) keepFacts(host, kept, raw string) {
	if e.FactsDir == "" || raw == kept || strings.TrimSpace(raw) == "" {
		return
	}
	if os.MkdirAll(e.FactsDir, 0o700) != nil {
		return
	}
	tmp := e.factsFile(host) + ".tmp"
	if os.WriteFile(tmp, []byte(raw), 0o600) == nil && os.Rename(tmp, e.factsFile(host)) != nil {
		os.Remove(tmp)
	}
}

// keepHelperFact records in host's kept facts, read before its probe
// helper was copied, that the host has it now: the next run sends its
// probes through the helper at once instead of with sh.
func (e *Engine) keepHelperFact(host string) {
	raw, _, helper, ok := e.keptFacts(host)
	if !ok || helper || raw == "" {
		return
	}
	if !strings.HasSuffix(raw, "\n") {
		raw += "\n"
	}
	e.keepFacts(host, "", raw+helperFact+"=yes\n")
}

// speculativeProbe is the sh that probes items on a host, through the
// probe helper when the host had it, and the frames' token and count.
// Unlike the usual batches it never exits: more script may follow.
func (e *Engine) speculativeProbe(items []probeItem, helper bool) (script string, tok wire.Token, n int) {
	if helper && e.HelperPath != "" {
		b, err := helperItems(items, e.ProbeCPU)
		if err == nil && len(b.Items) > 0 {
			if cmd, err := hostprobe.Invocation(e.HelperPath, b); err == nil {
				return "[ -x " + shell.Quote(e.HelperPath) + " ] && " + cmd, b.Token, len(b.Items)
			}
		}
	}
	return wire.ShProbes(fragments(items))
}
