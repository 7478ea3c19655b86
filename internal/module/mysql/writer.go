package mysql

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Writer is the "mysql_writer" task kind: whether the local MariaDB
// server takes writes. The writer is the one server with read_only off and
// the primary side of semi-synchronous replication on; every other server
// has read_only on and the primary side off. Both are set at run time
// (SET GLOBAL): the site's config starts every server read-only, so a
// writer that restarts (or an old primary that comes back after a
// failover) takes no write until this kind makes it the writer again.
//
//	task "mysql_writer" "this" {
//	  writable = true                        # the default; false stops writes
//	  peers    = { db2 = "10.0.0.4" }        # the site's other servers, by inventory name
//	  user     = "repl"                      # how this host asks the peers, over TLS
//	  password = secret.mysql_replication_password
//	  tls_ca   = "/etc/mysql/tls/ca.crt"
//	  promote_from = "10.0.0.3"              # the primary this replica may take over from
//	  catch_up     = "primary"               # or "received" (the primary is lost)
//	}
//
// With writable = false and handover_to (a replica's address), the
// server stops taking writes only while that replica is connected to it
// (a binlog dump thread from its address): a switchover never leaves the
// site without a writer because its replica was not replicating.
//
// With writable and no promote_from, the kind refuses a server that
// replicates from another one, or whose peer is writable: the writer has
// moved (a switchover or a failover) and the inventory, which names this
// host the writer, was not edited yet. Making it writable would give the
// site two writers or swap the writer back. A peer that does not answer
// (down, unreachable, or without an account for this host yet) is not
// held against it.
//
// With promote_from, a server that replicates from that address is
// promoted: with catch_up "primary" (a switchover) Apply reads the
// primary's GTID position over TLS, refuses while the primary is still
// writable, and waits (30 s at most) until the local server has applied
// that position; with "received" (a failover) it stops receiving and waits
// until what it received is applied. Then it stops replicating (RESET
// SLAVE ALL), turns the primary side of semi-sync on and read_only off. A
// writable peer other than a switchover's primary is refused as above:
// a failover never promotes a second writer.
//
// MariaDB only (the semi-sync variables are MariaDB's).
type Writer struct {
	writable       bool
	peers          map[string]string // name -> address
	user, password string
	tlsCA          string
	promoteFrom    string
	catchUp        string
	handoverTo     string
	drainFrom      string
	name           string
	rivals         []string // names of peers: the other replicas of promoteFrom
	inventoryEdit  string
	secrets        []string

	// set by Check
	srv     server
	promote bool
	drain   bool   // stop receiving from drainFrom, apply what was received
	repoint string // a rival holds more: replicate from this address
	setRO   bool   // read_only must change
	setSemi bool   // the primary side of semi-sync must change
	pending bool
}

var _ module.Module = (*Writer)(nil)

var peerNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// NewWriter is the module.Factory of the "mysql_writer" kind.
func NewWriter(a *module.Args) module.Module {
	w := &Writer{
		writable:      a.Bool("writable", true),
		peers:         a.StringMap("peers"),
		user:          a.StringDefault("user", ""),
		password:      a.StringDefault("password", ""),
		promoteFrom:   a.StringDefault("promote_from", ""),
		catchUp:       a.OneOf("catch_up", "primary", "primary", "received"),
		inventoryEdit: a.StringDefault("inventory_edit", ""),
		handoverTo:    a.StringDefault("handover_to", ""),
		drainFrom:     a.StringDefault("drain_from", ""),
		name:          a.StringDefault("name", ""),
		rivals:        a.StringList("rivals"),
	}
	if a.Has("tls_ca") {
		w.tlsCA = filestate.PathArg(a, "tls_ca")
	}
	a.RejectSensitive("peers", "user", "promote_from", "inventory_edit", "handover_to", "drain_from", "name", "rivals")
	if w.drainFrom != "" && (!hostRE.MatchString(w.drainFrom) || strings.HasPrefix(w.drainFrom, "-")) {
		a.Errorf("drain_from", "%q is not a host name or IP address.", w.drainFrom)
		w.drainFrom = ""
	}
	if w.drainFrom != "" && w.writable {
		a.Errorf("drain_from", "drain_from stops a replica receiving: it needs writable = false.")
	}
	if len(w.rivals) > 0 {
		if w.promoteFrom == "" || w.catchUp != "received" || w.name == "" {
			a.Errorf("rivals", "rivals choose, in a failover, the replica with the most transactions: they need promote_from, catch_up = \"received\" and name (this host's).")
		}
		for _, r := range w.rivals {
			if _, ok := w.peers[r]; !ok {
				a.Errorf("rivals", "rival %q is not one of peers: its address is needed.", r)
			}
		}
	}
	for name, addr := range w.peers {
		if !peerNameRE.MatchString(name) || !hostRE.MatchString(addr) || strings.HasPrefix(addr, "-") {
			a.Errorf("peers", "peers maps inventory host names to addresses: %q = %q is not one.", name, addr)
			delete(w.peers, name)
		}
	}
	if w.promoteFrom != "" && (!hostRE.MatchString(w.promoteFrom) || strings.HasPrefix(w.promoteFrom, "-")) {
		a.Errorf("promote_from", "%q is not a host name or IP address.", w.promoteFrom)
		w.promoteFrom = ""
	}
	if w.user != "" {
		if err := checkName(w.user, 80); err != nil || strings.HasPrefix(w.user, "-") {
			a.Errorf("user", "%q is not a usable user name.", w.user)
			w.user = ""
		}
	}
	needsAccount := len(w.peers) > 0 || w.promoteFrom != "" && w.catchUp == "primary"
	if needsAccount && !a.Unknown("user") && !a.Unknown("password") && (w.user == "" || w.password == "") {
		a.Errorf("user", "peers and promote_from (catch_up = \"primary\") need user and password: the account with which this host reaches the other servers.")
	}
	if w.handoverTo != "" && (!hostRE.MatchString(w.handoverTo) || strings.HasPrefix(w.handoverTo, "-")) {
		a.Errorf("handover_to", "%q is not a host name or IP address.", w.handoverTo)
		w.handoverTo = ""
	}
	if w.writable && w.handoverTo != "" {
		a.Errorf("handover_to", "handover_to is for a writer that stops taking writes: it needs writable = false.")
	}
	if !w.writable && w.promoteFrom != "" {
		a.Errorf("promote_from", "promote_from promotes a replica: it needs writable = true.")
	}
	w.secrets = a.SecretStrings("password")
	if w.password != "" {
		w.secrets = append(w.secrets, w.password, cnfEscaper.Replace(w.password))
	}
	return w
}

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

// localState is what the replication probe says of the local server.
type localState struct {
	srv      server
	status   replicaStatus
	vars     map[string]string
	dbs      []string
	sections map[string]string
}

// readOnly reports the server's read_only (MySQL says 0/1; MariaDB ≥ 10.11
// may say OFF, ON, NO_LOCK…).
func (l localState) readOnly() bool {
	return isOn(l.vars["read_only"])
}

// replicasConnected are the addresses of the replicas whose IO thread is
// connected to this server (its binlog dump threads).
func (l localState) replicasConnected() []string {
	var out []string
	for line := range strings.SplitSeq(l.sections["vars"], "\n") {
		if a, ok := strings.CutPrefix(line, "replica_from="); ok {
			out = append(out, a)
		}
	}
	return out
}

func orNoneList(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func isOn(v string) bool {
	v = strings.TrimSpace(v)
	return v != "0" && !strings.EqualFold(v, "OFF")
}

// parseLocal reads the replication probe's output. pending is set when the
// server is missing or not running.
func parseLocal(p module.Probed, secrets []string) (l localState, pending bool, err error) {
	srv, _, err := parseServer(p.Stdout, p.ExitCode)
	if err != nil {
		return l, false, err
	}
	l.srv = srv
	switch {
	case srv.notRunning():
		return l, true, nil
	case srv.state == "down":
		return l, false, srv.unreachable()
	}
	sec := shell.Sections(p.Stdout)
	l.sections = sec
	if _, ok := sec["end"]; !ok {
		return l, false, fmt.Errorf("reading the replication state failed: %s", shell.Scrub(orUnknown(sqlErrors(sec["status"]+sec["vars"])), secrets))
	}
	if e := sqlErrors(sec["status"]); e != "" {
		return l, false, fmt.Errorf("SHOW SLAVE STATUS failed: %s", shell.Scrub(e, secrets))
	}
	l.status = parseReplicaStatus(sec["status"])
	l.vars = shell.Fields([]byte(sec["vars"]))
	for line := range strings.SplitSeq(sec["vars"], "\n") {
		if db, ok := strings.CutPrefix(line, "database="); ok {
			l.dbs = append(l.dbs, db)
		}
	}
	return l, false, nil
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

// Check decides what Apply does, or refuses a host that is not the writer
// the inventory says it is.
func (w *Writer) Check(p module.Probed) (*module.Change, error) {
	w.promote, w.drain, w.repoint, w.setRO, w.setSemi, w.pending = false, false, "", false, false, false
	l, pending, err := parseLocal(p, w.secrets)
	if err != nil {
		return nil, err
	}
	w.srv = l.srv
	if pending {
		w.pending = true
		return &module.Change{Action: plan.Update, Summary: w.wanted() + " (" + l.srv.why() + ")"}, nil
	}
	if !l.srv.mariadb() {
		return nil, fmt.Errorf("mysql_writer manages MariaDB's semi-synchronous replication; this server is %s", l.srv.version)
	}
	ro, semi := l.readOnly(), isOn(l.vars["semi_sync_primary"])
	if !w.writable {
		if w.handoverTo != "" && !slices.Contains(l.replicasConnected(), w.handoverTo) {
			return nil, fmt.Errorf("%s does not replicate from this server (no replication connection from it; connected: %s): stopping writes here would leave the site without a writer",
				w.handoverTo, orNoneList(l.replicasConnected()))
		}
		var parts []string
		st := l.status
		if w.drainFrom != "" && st.configured() && st["Master_Host"] == w.drainFrom &&
			(st["Slave_IO_Running"] != "No" || strings.TrimSpace(st["Gtid_IO_Pos"]) != strings.TrimSpace(l.vars["gtid_pos"])) {
			w.drain = true
			parts = append(parts, "stop receiving from "+w.drainFrom+" and apply what was received (received up to "+orNone(st["Gtid_IO_Pos"])+", applied up to "+orNone(l.vars["gtid_pos"])+")")
		}
		if !ro {
			w.setRO = true
			parts = append(parts, "stop writes: read_only OFF -> ON (commits under way finish first)")
		}
		if semi {
			w.setSemi = true
			parts = append(parts, "semi-sync primary side ON -> OFF")
		}
		if len(parts) == 0 {
			return nil, nil
		}
		return &module.Change{Action: plan.Update, Summary: strings.Join(parts, "; ")}, nil
	}

	peers := parsePeers(l.sections["peers"])
	for _, name := range w.peerNames() {
		ps := peers[name]
		if !ps.answered || ps.readOnly {
			continue
		}
		if w.promoteFrom == w.peers[name] && w.catchUp == "primary" {
			continue // a switchover stops its writes first; Apply checks it did
		}
		if slices.Contains(w.rivals, name) {
			continue // the rival promoted in this failover: below
		}
		return nil, fmt.Errorf("%s is writable: the writer is there (after a switchover or failover), not here. %s",
			w.nameOf(w.peers[name]), w.editAdvice(name))
	}
	if l.status.configured() {
		from := l.status["Master_Host"]
		// In a failover among rivals, the one already promoted (writable)
		// is the new writer: the others replicate from it.
		for _, r := range w.rivals {
			if ps := peers[r]; ps.answered && !ps.readOnly {
				if from == w.peers[r] {
					return nil, nil
				}
				w.repoint = w.peers[r]
				return &module.Change{Action: plan.Update, Summary: "replicate from " + r + " (" + w.peers[r] + "), the new writer (no reseed)"}, nil
			}
		}
		if w.promoteFrom == "" || from != w.promoteFrom {
			return nil, fmt.Errorf("this server replicates from %s: it is a replica, not the writer. %s", w.nameOf(from), w.editAdvice(w.peerAt(from)))
		}
		if len(w.rivals) > 0 {
			winner, why, err := w.mostTransactions(l, peers)
			if err != nil {
				return nil, err
			}
			if winner != w.name {
				if from == w.peers[winner] {
					return nil, nil
				}
				w.repoint = w.peers[winner]
				return &module.Change{Action: plan.Update, Summary: "replicate from " + winner + " (" + w.peers[winner] + "), the new writer: " + why + " (no reseed)"}, nil
			}
		}
		w.promote, w.setRO, w.setSemi = true, true, true
		how := "once it has applied " + from + "'s GTID position (" + from + " read-only by then)"
		if w.catchUp == "received" {
			how = "once it has applied all it received from " + from
		}
		s := "promote to writer: stop replicating from " + from + " " + how + ", semi-sync primary side ON, read_only ON -> OFF"
		if len(w.rivals) > 0 {
			_, why, _ := w.mostTransactions(l, peers)
			s += " (" + why + ")"
		}
		if w.inventoryEdit != "" {
			s += "; then edit the inventory: " + w.inventoryEdit
		}
		return &module.Change{Action: plan.Update, Summary: s}, nil
	}
	var parts []string
	if !semi {
		w.setSemi = true
		parts = append(parts, "semi-sync primary side OFF -> ON")
	}
	if ro {
		w.setRO = true
		parts = append(parts, "take writes: read_only ON -> OFF")
	}
	if len(parts) == 0 {
		return nil, nil
	}
	return &module.Change{Action: plan.Update, Summary: strings.Join(parts, "; ")}, nil
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

// editAdvice says which inventory edit makes the writer the inventory's
// primary again.
func (w *Writer) editAdvice(writer string) string {
	if writer == "" {
		return "The inventory names this host the writer (db_primary): make the inventory say where the writer is, then apply again. Refusing to make this host writable."
	}
	return "Edit the inventory: put " + writer + " in db_primary and this host in db_replica, then apply again. Refusing to make this host writable (the site would get two writers, or its writer swapped back)."
}

func (w *Writer) wanted() string {
	if w.writable {
		return "take writes: read_only OFF, semi-sync primary side ON"
	}
	return "stop writes: read_only ON, semi-sync primary side OFF"
}

// Exit codes of the promotion script.
const (
	exitPrimaryRead     = 30 // cannot read the primary's state
	exitPrimaryWritable = 31 // the primary still takes writes
	exitCatchUp         = 32 // the position was not reached in time
	exitWriterSQL       = 33 // a statement failed
)

// catchUpSeconds bounds a promotion's wait for the local server to apply
// what the primary wrote.
const catchUpSeconds = 30

// script is what Apply runs.
func (w *Writer) script() string {
	var b strings.Builder
	if w.drain || w.promote && w.catchUp == "received" {
		// Stop receiving, then wait for what was received.
		fmt.Fprintf(&b, "%s\npos=$(%s)\n", runSQL("STOP SLAVE IO_THREAD;", fmt.Sprintf(" || exit %d", exitWriterSQL)),
			runSQLFlags(" --column-names", `SHOW SLAVE STATUS\G`, " | sed -n 's/^ *Gtid_IO_Pos: //p'"))
	}
	if w.drain || w.promote {
		if w.promote && w.catchUp == "primary" {
			fmt.Fprintf(&b, `umask 077
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
trap 'exit 1' HUP INT TERM
cat > "$d/primary.cnf" <<'SKIFF_CNF_EOF'
[client]
password="%s"
%sSKIFF_CNF_EOF
st=$(mysql --defaults-extra-file="$d/primary.cnf" --protocol=tcp --connect-timeout=5 -h %s -P 3306 -u %s -N -B -e 'SELECT @@global.read_only, @@global.gtid_binlog_pos' 2>&1 </dev/null) || { printf '%%s\n' "$st" >&2; exit %d; }
ro=$(printf '%%s\n' "$st" | cut -f1)
pos=$(printf '%%s\n' "$st" | cut -f2)
case $ro in 0|OFF) echo 'skiff: the primary still takes writes' >&2; exit %d ;; esac
`, cnfEscaper.Replace(w.password), tlsOptions(w.tlsCA), shell.Quote(w.promoteFrom), shell.Quote(w.user), exitPrimaryRead, exitPrimaryWritable)
		}
		// $pos holds digits, commas and dashes only when it reaches SQL.
		fmt.Fprintf(&b, `case $pos in *[!0-9,-]*) printf '%%s\n' "skiff: unexpected GTID position: $pos" >&2; exit %d ;; esac
w=$(%s <<%s
%sSELECT MASTER_GTID_WAIT('$pos', %d);
%s
) || exit %d
[ "$w" = 0 ] || { printf '%%s\n' "$pos" >&2; exit %d; }
`, exitPrimaryRead, client, sqlEOF, sqlPrelude, catchUpSeconds, sqlEOF, exitWriterSQL, exitCatchUp)
	}
	var sql strings.Builder
	if w.promote {
		sql.WriteString("STOP SLAVE;\nRESET SLAVE ALL;\n")
	}
	if w.writable {
		// The primary side first: no write is taken before it waits for a replica.
		if w.setSemi {
			sql.WriteString("SET GLOBAL rpl_semi_sync_master_enabled = ON;\n")
		}
		if w.setRO {
			sql.WriteString("SET GLOBAL read_only = OFF;\n")
		}
	} else {
		// read_only first: commits under way still get their replica's answer.
		if w.setRO {
			sql.WriteString("SET GLOBAL read_only = ON;\n")
		}
		if w.setSemi {
			sql.WriteString("SET GLOBAL rpl_semi_sync_master_enabled = OFF;\n")
		}
	}
	b.WriteString(runSQL(sql.String(), fmt.Sprintf(" || exit %d", exitWriterSQL)))
	return b.String()
}

// Apply promotes, or sets read_only and semi-sync, as Check said.
func (w *Writer) Apply(ctx context.Context, t transport.Transport) error {
	if w.pending {
		return fmt.Errorf("the MariaDB server is still not running on the host")
	}
	if w.repoint != "" {
		r := &Replication{host: w.repoint, port: 3306, user: w.user, password: w.password, tlsCA: w.tlsCA,
			readOnly: true, secrets: w.secrets, srv: w.srv, connect: true, setRO: true}
		from := w.repoint + ":3306"
		res, err := shell.Output(ctx, t, "re-pointing replication to "+from, r.script(), w.secrets)
		if err != nil && res.ExitCode != 0 {
			return fmt.Errorf("replicating from the new writer %s failed: %s", from, shell.Tail(res, w.secrets))
		}
		return err
	}
	if !w.promote && !w.drain && !w.setRO && !w.setSemi {
		return nil
	}
	res, err := shell.Output(ctx, t, "setting the writer", w.script(), w.secrets)
	if err == nil || res.ExitCode == 0 {
		return err
	}
	tail := shell.Tail(res, w.secrets)
	switch res.ExitCode {
	case exitPrimaryRead:
		return fmt.Errorf("promotion: cannot read the GTID position of %s as %s: %s", w.promoteFrom, w.user, tail)
	case exitPrimaryWritable:
		return fmt.Errorf("promotion: %s still takes writes (read_only OFF): not promoting a second writer", w.promoteFrom)
	case exitCatchUp:
		if !w.promote {
			return fmt.Errorf("this server did not apply what it received from %s (up to %s) within %d s", w.drainFrom, tail, catchUpSeconds)
		}
		return fmt.Errorf("promotion: this server did not apply %s's GTID position %s within %d s: not promoted (still a replica)", w.promoteFrom, tail, catchUpSeconds)
	case exitWriterSQL:
		return fmt.Errorf("setting the writer failed: %s", tail)
	}
	return err
}
