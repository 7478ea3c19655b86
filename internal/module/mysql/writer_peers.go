package mysql

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// Probe is the replication probe (the local server's replication state,
// read_only and semi-sync), then, with peers, a [peers] section: one line
// per peer, "peer NAME read_only=V<TAB>GTID_SLAVE_POS" or "peer NAME
// error=MESSAGE".
func (w *Writer) Probe() string {
	if len(w.peers) == 0 {
		return replicationProbe
	}
	var b strings.Builder
	b.WriteString(replicationProbe)
	b.WriteString(`umask 077
skiff_d=$(mktemp -d) || exit 1
trap 'rm -rf "$skiff_d"' EXIT
cat > "$skiff_d/peer.cnf" <<'SKIFF_CNF_EOF'
[client]
password="` + cnfEscaper.Replace(w.password) + `"
` + tlsOptions(w.tlsCA) + `SKIFF_CNF_EOF
skiff_peer() {
  r=$(mysql --defaults-extra-file="$skiff_d/peer.cnf" --protocol=tcp --connect-timeout=2 -h "$2" -P 3306 -u ` + shell.Quote(w.user) + ` -N -B -e 'SELECT @@global.read_only, @@global.gtid_slave_pos' 2>&1 </dev/null)
  if [ $? = 0 ]; then printf 'peer %s read_only=%s\n' "$1" "$r"
  else printf 'peer %s error=%s\n' "$1" "$(printf '%s\n' "$r" | head -n 1)"; fi
}
`)
	names := w.peerNames()
	for i, name := range names {
		fmt.Fprintf(&b, "skiff_peer %s %s >\"$skiff_d/p%d\" &\n", shell.Quote(name), shell.Quote(w.peers[name]), i)
	}
	b.WriteString("wait\necho '[peers]'\n")
	for i := range names {
		fmt.Fprintf(&b, "cat \"$skiff_d/p%d\"\n", i)
	}
	return b.String()
}

// tlsOptions is the option-file part with which a client reaches another
// MariaDB server over TLS, verifying its certificate with ca.
func tlsOptions(ca string) string {
	if ca == "" {
		return ""
	}
	return "ssl-ca=\"" + cnfEscaper.Replace(ca) + "\"\nssl-verify-server-cert\n"
}

func (w *Writer) peerNames() []string {
	names := make([]string, 0, len(w.peers))
	for n := range w.peers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// peerState is one line of the [peers] section.
type peerState struct {
	answered bool
	readOnly bool
	gtidPos  string // what it applied as a replica
	err      string
}

func parsePeers(section string) map[string]peerState {
	out := map[string]peerState{}
	for line := range strings.SplitSeq(section, "\n") {
		rest, ok := strings.CutPrefix(line, "peer ")
		if !ok {
			continue
		}
		name, kv, _ := strings.Cut(rest, " ")
		if v, ok := strings.CutPrefix(kv, "read_only="); ok {
			ro, pos, _ := strings.Cut(v, "\t")
			out[name] = peerState{answered: true, readOnly: isOn(ro), gtidPos: strings.TrimSpace(pos)}
		} else if e, ok := strings.CutPrefix(kv, "error="); ok {
			out[name] = peerState{err: e}
		}
	}
	return out
}

// transactions counts the transactions a GTID position covers: the sum of
// its sequence numbers, one per replication domain.
func transactions(pos string) int64 {
	var n int64
	for g := range strings.SplitSeq(pos, ",") {
		parts := strings.Split(strings.TrimSpace(g), "-")
		if len(parts) != 3 {
			continue
		}
		if seq, err := strconv.ParseInt(parts[2], 10, 64); err == nil {
			n += seq
		}
	}
	return n
}

// mostTransactions names the replica, among this one and its rivals, that
// applied the most transactions (ties: the first by name), and says why.
// Every rival must answer: one that does not might hold more.
func (w *Writer) mostTransactions(l localState, peers map[string]peerState) (string, string, error) {
	best, bestN := w.name, transactions(l.vars["gtid_pos"])
	desc := []string{fmt.Sprintf("%s %d", w.name, bestN)}
	for _, r := range w.rivals {
		ps := peers[r]
		if !ps.answered {
			return "", "", fmt.Errorf("cannot tell which replica holds the most transactions: %s does not answer (%s); name the replica to promote (-e to=HOST)", r, orUnknown(ps.err))
		}
		n := transactions(ps.gtidPos)
		desc = append(desc, fmt.Sprintf("%s %d", r, n))
		if n > bestN || n == bestN && r < best {
			best, bestN = r, n
		}
	}
	return best, best + " holds the most transactions (" + strings.Join(desc, ", ") + ")", nil
}

// nameOf is the inventory name of the peer at addr, else addr.
func (w *Writer) nameOf(addr string) string {
	for _, n := range w.peerNames() {
		if w.peers[n] == addr {
			return n + " (" + addr + ")"
		}
	}
	return addr
}

// peerAt is the name of the peer at addr, "" when none.
func (w *Writer) peerAt(addr string) string {
	for _, n := range w.peerNames() {
		if w.peers[n] == addr {
			return n
		}
	}
	return ""
}
