package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/wire"
)

// factsScript prints key=value lines about the host; read-only. It reads
// /proc with sh's own read where it can: a program started per fact costs
// more than the rest of the script.
const factsScript = `. /etc/os-release 2>/dev/null
h=; read -r h </proc/sys/kernel/hostname 2>/dev/null || h=$(hostname 2>/dev/null || cat /etc/hostname)
printf 'hostname=%s\n' "$h"
printf 'os_id=%s\nos_like=%s\nos_version=%s\nos_codename=%s\n' "$ID" "$ID_LIKE" "$VERSION_ID" "$VERSION_CODENAME"
k=; read -r k </proc/sys/kernel/osrelease 2>/dev/null || k=$(uname -r)
a=; read -r a </proc/sys/kernel/arch 2>/dev/null || a=$(uname -m)
printf 'arch=%s\nkernel=%s\n' "$a" "$k"
printf 'cpus=%s\n' "$(nproc 2>/dev/null || echo 1)"
m=; while read -r n v _; do [ "$n" = MemTotal: ] && { m=$((v / 1024)); break; }; done </proc/meminfo 2>/dev/null
printf 'memory_mb=%s\n' "$m"
i=; read -r i </proc/1/comm 2>/dev/null
printf 'init=%s\n' "$i"
`

// numericFact reports the facts that are converted to numbers.
func numericFact(k string) bool { return k == "cpus" || k == "memory_mb" }

// helperFact is the line the facts script prints when the host has the
// probe helper; it is not one of the facts expressions see.
const helperFact = "skiff_helper"

// gatherFacts reads host's facts (the `facts` object of expressions) and
// whether it has the run's probe helper, which probes then use.
func (e *Engine) gatherFacts(ctx context.Context, host string, t transport.Transport) (cty.Value, error) {
	res, err := t.Run(ctx, e.factsScript())
	if err != nil {
		return cty.NilVal, err
	}
	return e.readFacts(host, res)
}

// factsScript is the script that reads the facts, and looks for the
// run's probe helper.
func (e *Engine) factsScript() string {
	if e.HelperPath == "" {
		return factsScript
	}
	return factsScript + "if [ -x " + shell.Quote(e.HelperPath) + " ]; then echo " + helperFact + "=yes; fi\n"
}

// readFacts reads what factsScript printed on host.
func (e *Engine) readFacts(host string, res transport.Result) (cty.Value, error) {
	if res.ExitCode != 0 {
		return cty.NilVal, fmt.Errorf("reading facts: exit %d: %s", res.ExitCode, tail(res.Stderr))
	}
	facts, helper := parseFacts(string(res.Stdout))
	if helper && e.HelperPath != "" {
		e.helpers.Store(host, e.HelperPath)
	}
	return facts, e.checkSystem(host, facts)
}

// parseFacts reads the facts script's output; helper says whether it
// found the probe helper.
func parseFacts(out string) (facts cty.Value, helper bool) {
	m := map[string]cty.Value{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if k == helperFact {
			helper = v == "yes"
			continue
		}
		if numericFact(k) {
			if n, err := strconv.Atoi(v); err == nil {
				m[k] = cty.NumberIntVal(int64(n))
				continue
			}
		}
		m[k] = cty.StringVal(v)
	}
	return cty.ObjectVal(m), helper
}

// rideScript is script followed, in its session, by the facts script
// and, when script succeeded and probe is set, the probe batch, each in
// its frame; it exits as script did.
func rideScript(tok wire.Token, script, facts, probe string) string {
	var b strings.Builder
	b.WriteString("(\n" + script + "\n)\nskiff_rc=$?\n")
	b.WriteString(tok.Section("facts", "(\n"+facts+"\n)"))
	if probe != "" {
		b.WriteString("if [ \"$skiff_rc\" = 0 ]; then\n" + tok.Section("probe", "(\n"+probe+"\n)") + "fi\n")
	}
	b.WriteString("exit $skiff_rc\n")
	return b.String()
}

// parseRide splits what rideScript printed: the script's own result, the
// facts script's, and the probe batch's when it ran. err says why the
// facts are missing; own is right even then.
func parseRide(res transport.Result, tok wire.Token) (own, facts transport.Result, probe *transport.Result, err error) {
	before, frames, perr := wire.Parse(res.Stdout, tok)
	own = transport.Result{Stdout: before, Stderr: res.Stderr, ExitCode: res.ExitCode}
	f, ok := wire.Find(frames, "facts")
	if !ok {
		if perr == nil {
			perr = errors.New("the script ended early")
		}
		return own, facts, nil, fmt.Errorf("reading facts: %v (exit %d): %s", perr, res.ExitCode, tail(res.Stderr))
	}
	facts = transport.Result{Stdout: f.Body, Stderr: res.Stderr, ExitCode: f.Exit}
	if p, ok := wire.Find(frames, "probe"); ok {
		probe = &transport.Result{Stdout: p.Body, Stderr: res.Stderr, ExitCode: p.Exit}
	}
	return own, facts, probe, nil
}
