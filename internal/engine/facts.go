package engine

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"skiff/internal/module/shell"
	"skiff/internal/transport"
)

// factsScript prints key=value lines about the host; read-only.
const factsScript = `. /etc/os-release 2>/dev/null
printf 'hostname=%s\n' "$(hostname 2>/dev/null || cat /etc/hostname)"
printf 'os_id=%s\nos_version=%s\nos_codename=%s\n' "$ID" "$VERSION_ID" "$VERSION_CODENAME"
printf 'arch=%s\nkernel=%s\n' "$(uname -m)" "$(uname -r)"
printf 'cpus=%s\n' "$(nproc 2>/dev/null || echo 1)"
printf 'memory_mb=%s\n' "$(awk '/^MemTotal/ {print int($2/1024)}' /proc/meminfo 2>/dev/null)"
printf 'init=%s\n' "$(cat /proc/1/comm 2>/dev/null)"
`

// numericFact reports the facts that are converted to numbers.
func numericFact(k string) bool { return k == "cpus" || k == "memory_mb" }

// helperFact is the line the facts script prints when the host has the
// probe helper; it is not one of the facts expressions see.
const helperFact = "skiff_helper"

// gatherFacts reads host's facts (the `facts` object of expressions) and
// whether it has the run's probe helper, which probes then use.
func (e *Engine) gatherFacts(ctx context.Context, host string, t transport.Transport) (cty.Value, error) {
	script := factsScript
	if e.Helper != nil {
		script += "if [ -x " + shell.Quote(e.Helper.RemotePath()) + " ]; then echo " + helperFact + "=yes; fi\n"
	}
	res, err := t.Run(ctx, script)
	if err != nil {
		return cty.NilVal, err
	}
	if res.ExitCode != 0 {
		return cty.NilVal, fmt.Errorf("reading facts: exit %d: %s", res.ExitCode, tail(res.Stderr))
	}
	facts, helper := parseFacts(string(res.Stdout))
	if helper && e.Helper != nil {
		e.helpers.Store(host, e.Helper.RemotePath())
	}
	return facts, nil
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
