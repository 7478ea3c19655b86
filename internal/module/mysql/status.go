package mysql

import "strings"

// replicaStatus holds the fields of SHOW SLAVE STATUS (MariaDB) or SHOW
// REPLICA STATUS (MySQL) that the replication kind reads, under MariaDB's
// names (MySQL's Source_/Replica_ names are mapped to them). An empty map
// means replication was never configured (the statement returned no row).
type replicaStatus map[string]string

// parseReplicaStatus reads the vertical (\G) output of SHOW SLAVE STATUS:
// "   Field: value" lines after a "*** 1. row ***" line. Only the first row
// (the default connection) is read.
func parseReplicaStatus(text string) replicaStatus {
	st := replicaStatus{}
	rows := 0
	for line := range strings.SplitSeq(text, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "***") {
			rows++
			continue
		}
		if rows != 1 {
			continue
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		st[mariaName(k)] = strings.TrimSpace(v)
	}
	return st
}

// mariaName maps MySQL 8's field names to MariaDB's.
func mariaName(k string) string {
	for _, r := range [][2]string{{"Source_", "Master_"}, {"Replica_", "Slave_"}} {
		if rest, ok := strings.CutPrefix(k, r[0]); ok {
			return r[1] + rest
		}
	}
	if k == "Seconds_Behind_Source" {
		return "Seconds_Behind_Master"
	}
	return k
}

// configured reports whether replication was ever set up.
func (st replicaStatus) configured() bool { return st["Master_Host"] != "" }

// running reports whether both threads run.
func (st replicaStatus) running() bool {
	return st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes"
}

// gtid reports whether replication positions by GTID: MariaDB's Using_Gtid
// Slave_Pos or Current_Pos, MySQL's Auto_Position 1.
func (st replicaStatus) gtid() bool {
	u := strings.ToLower(st["Using_Gtid"])
	return u == "slave_pos" || u == "current_pos" || st["Auto_Position"] == "1"
}

// verifiedTLS reports whether replication connects over TLS, verifying
// the primary's certificate with the CA file ca.
func (st replicaStatus) verifiedTLS(ca string) bool {
	return st["Master_SSL_Allowed"] == "Yes" && st["Master_SSL_CA_File"] == ca && st["Master_SSL_Verify_Server_Cert"] == "Yes"
}

// tls describes the TLS settings, for messages.
func (st replicaStatus) tls() string {
	if st["Master_SSL_Allowed"] != "Yes" {
		return "now without TLS"
	}
	s := "now TLS"
	if st["Master_SSL_CA_File"] != "" {
		s += " with CA " + st["Master_SSL_CA_File"]
	}
	if st["Master_SSL_Verify_Server_Cert"] != "Yes" {
		s += ", the certificate not verified"
	}
	return s
}

// threads describes the threads' state and last errors, for messages.
func (st replicaStatus) threads() string {
	s := "IO thread " + orNone(st["Slave_IO_Running"]) + ", SQL thread " + orNone(st["Slave_SQL_Running"])
	if e := st["Last_IO_Error"]; e != "" {
		s += "; last IO error: " + e
	}
	if e := st["Last_SQL_Error"]; e != "" {
		s += "; last SQL error: " + e
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
