package mysql

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/plan"
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
// In a failover, drain_from (with writable = false) first makes a replica
// of the lost primary stop receiving and apply what it received. With
// rivals (the names, in peers, of the other replicas) and name (this
// host's), the replica that applied the most transactions (ties: the
// first by name) is promoted and each other one replicates from it, or
// from a rival already writable; a rival that does not answer stops the
// choice (writer_peers.go).
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
