package engine

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

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

// gatherFacts reads the host's facts: the `facts` object of expressions.
func gatherFacts(ctx context.Context, t transport.Transport) (cty.Value, error) {
	res, err := t.Run(ctx, factsScript)
	if err != nil {
		return cty.NilVal, err
	}
	if res.ExitCode != 0 {
		return cty.NilVal, fmt.Errorf("reading facts: exit %d: %s", res.ExitCode, tail(res.Stderr))
	}
	return parseFacts(string(res.Stdout)), nil
}

func parseFacts(out string) cty.Value {
	m := map[string]cty.Value{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
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
	return cty.ObjectVal(m)
}
