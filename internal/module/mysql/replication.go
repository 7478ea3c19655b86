package mysql

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// Replication is the "mysql_replication" task kind, on a replica: it
// replicates from the primary by GTID, seeded from a consistent dump.
//
//	task "mysql_replication" "from_primary" {
//	  primary_host = groups.db_primary[0].address
//	  primary_port = 3306                        # the default
//	  user         = "repl"
//	  password     = secret.mysql_replication_password
//	  seed         = true                        # the default
//	  read_only    = true                        # the default
//	  tls_ca       = "/etc/mysql/tls/ca.crt"     # replicate over verified TLS
//	}
//
// With tls_ca (a CA certificate's path on the replica), replication and
// the seed's dump reach the primary over TLS, and the primary's
// certificate must be signed by that CA and name primary_host (as a DNS
// name or IP address): MASTER_SSL, MASTER_SSL_CA and
// MASTER_SSL_VERIFY_SERVER_CERT (MySQL: SOURCE_SSL…). A replica that
// replicates without them is switched, without reseeding. Without tls_ca
// the TLS settings are left as they are.
//
// Nothing is done when the replica already replicates from primary_host
// (and port) as user, by GTID, with both threads running, and read_only is
// as wanted. A replica never configured (no SHOW SLAVE STATUS row, empty
// GTID position) is seeded when seed is set: the replica's mysqldump reads
// every non-system database of the primary over the network in one
// consistent snapshot, and its output is loaded into the local server
// (without binary logging), which also sets the GTID position to start
// from. Then CHANGE MASTER (MySQL: CHANGE REPLICATION SOURCE) points the
// replica at the primary, replication starts, read_only is set, and Apply
// waits up to 30 s for both threads to run. A replica that replicates from
// elsewhere, as another user, or whose threads stopped, is re-pointed and
// restarted without reseeding (its GTID position is kept).
//
// The replication user (a mysql_user task on the primary) needs
// REPLICATION SLAVE to replicate, and for the seed, the dump needs SELECT
// (tables, and routines through mysql.proc), SHOW VIEW (views), EVENT
// (--events) and TRIGGER (--triggers: without it mysqldump silently leaves
// the triggers out). MariaDB takes the consistent snapshot and its binlog
// position without a global lock (binlog_snapshot_* with
// --single-transaction); MySQL, and older servers, run FLUSH TABLES WITH
// READ LOCK and SHOW MASTER STATUS for --master-data/--source-data, which
// need RELOAD and REPLICATION CLIENT (MariaDB ≥ 10.5 calls it BINLOG
// MONITOR). LOCK TABLES is needed only without --single-transaction. The
// safe list:
//
//	privileges = ["*.*:REPLICATION SLAVE,REPLICATION CLIENT,SELECT,RELOAD,LOCK TABLES,SHOW VIEW,EVENT,TRIGGER"]
//
// The database list the seed dumps is filtered by the user's privileges,
// so the seed refuses to start without a global SELECT. When the dump
// fails, Apply's error names the privilege that mysqldump's message shows
// missing.
//
// The password reaches mysqldump and mysql through a --defaults-extra-file
// created with umask 077 in a private temporary directory, removed on exit,
// and the server through CHANGE MASTER on the client's stdin: never argv.
// A changed password is not detected while the threads run (the server does
// not show it); it is applied when the IO thread fails to reconnect.
//
// read_only is set with SET GLOBAL on MariaDB (configure it in the server's
// config file too, to keep it after a restart) and SET PERSIST on MySQL.
type Replication struct {
	host           string
	port           int
	user, password string
	seed, readOnly bool
	demote         bool
	tlsCA          string // "": TLS left as it is
	secrets        []string

	// set by Check
	srv     server
	connect bool // STOP, CHANGE MASTER, START, wait
	doSeed  bool
	rejoin  bool // start from the server's own binary log position
	reset   bool // forget the server's own history first (a diverged rejoin's reseed)
	setRO   bool // set read_only to readOnly
	pending bool // the server was not running
	summary string
}

var _ module.Module = (*Replication)(nil)

var hostRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// NewReplication is the module.Factory of the "mysql_replication" kind.
func NewReplication(a *module.Args) module.Module {
	r := &Replication{
		host:     a.String("primary_host", true),
		port:     a.Int("primary_port", 3306),
		user:     a.String("user", true),
		password: a.String("password", true),
		seed:     a.Bool("seed", true),
		readOnly: a.Bool("read_only", true),
		demote:   a.Bool("demote", false),
	}
	if a.Has("tls_ca") {
		r.tlsCA = filestate.PathArg(a, "tls_ca")
	}
	a.RejectSensitive("primary_host", "primary_port", "user")
	if r.host != "" && (!hostRE.MatchString(r.host) || strings.HasPrefix(r.host, "-")) {
		a.Errorf("primary_host", "%q is not a host name or IP address.", r.host)
		r.host = ""
	}
	if r.port < 1 || r.port > 65535 {
		a.Errorf("primary_port", "primary_port must be a port number (1-65535).")
	}
	if r.user != "" {
		if err := checkName(r.user, 80); err != nil || strings.HasPrefix(r.user, "-") {
			a.Errorf("user", "%q is not a usable user name.", r.user)
			r.user = ""
		}
	}
	if a.Has("password") && !a.Unknown("password") && r.password == "" {
		a.Errorf("password", "password must not be empty.")
	}
	r.secrets = a.SecretStrings("password")
	if r.password != "" {
		r.secrets = append(r.secrets, r.password, sqlEscaper.Replace(r.password), cnfEscaper.Replace(r.password))
	}
	return r
}

// systemDBs are left out of the seed and of "the replica holds data".
const systemDBs = "('mysql', 'information_schema', 'performance_schema', 'sys')"

// Probe prints the server state, then SHOW SLAVE STATUS\G (MySQL: SHOW
// REPLICA STATUS\G) under [status], and read_only=, gtid_pos= and one
// database= line per non-system database under [vars], then [end].
//
// It is one client call (replicationCall): the statements differ by
// flavor, which the client installed on the host foretells (MariaDB's
// installs a `mariadb` command); VERSION() comes in the same call, and a
// wrong guess costs a second call with the other flavor's statements. A
// client start costs the host more than these queries.
func (r *Replication) Probe() string {
	if r.host == "" || r.user == "" {
		return ""
	}
	return replicationProbe
}

// replicationCall is the client call of the probe for flavor $1. The
// client prints column names (SHOW … STATUS\G needs them), so each SELECT
// names its column after the section its rows go in: "[server]",
// "[status]", "[vars]", "[end]" print as section lines (a section named
// twice goes on). Without --force, [end] comes only if every statement ran.
func replicationCall(showStatus, gtidPos, binlogPos, semiSyncPrimary string) string {
	vars := "SELECT '' AS `[status]`;\n" + showStatus + "\n" +
		"SELECT CONCAT('read_only=', @@global.read_only) AS `[vars]`;\n" +
		"SELECT CONCAT('gtid_pos=', " + gtidPos + ") AS `[vars]`;\n" +
		"SELECT CONCAT('binlog_pos=', " + binlogPos + ") AS `[vars]`;\n" +
		"SELECT CONCAT('semi_sync_primary=', " + semiSyncPrimary + ") AS `[vars]`;\n" +
		"SELECT CONCAT('replica_from=', SUBSTRING_INDEX(HOST, ':', 1)) AS `[vars]` FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' ORDER BY 1;\n" +
		"SELECT CONCAT('database=', SCHEMA_NAME) AS `[vars]` FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN " + systemDBs + " ORDER BY 1;\n" +
		"SELECT '' AS `[end]`;"
	return runSQLFlags(" -n --column-names", "SELECT CONCAT('version=', VERSION()) AS `[server]`;\n"+vars, " 2>&1")
}

// replicationProbe is Probe's script; it prints the server's state as
// probeInOneCall does, then the call's output.
var replicationProbe = `command -v mysql >/dev/null 2>&1 || { echo server=missing; exit 0; }
skiff_nl='
'
flavor=mysql skiff_tls_off=--ssl-mode=DISABLED
command -v mariadb >/dev/null 2>&1 && flavor=mariadb skiff_tls_off=--skip-ssl
skiff_replication() {
if [ "$1" = mariadb ]; then
` + replicationCall(`SHOW SLAVE STATUS\G`, "@@global.gtid_slave_pos", "@@global.gtid_binlog_pos", "@@global.rpl_semi_sync_master_enabled") + `else
` + replicationCall(`SHOW REPLICA STATUS\G`, "REPLACE(@@global.gtid_executed, '\\n', '')", "REPLACE(@@global.gtid_executed, '\\n', '')", "''") + `fi
}
o=$(skiff_replication $flavor)
case "$skiff_nl$o" in
*"${skiff_nl}[server]${skiff_nl}version="*) ;;
*) echo server=down; printf '%s\n' "$o" | head -n 3 | sed 's/^/error=/'; exit 0 ;;
esac
v=${o#*"[server]${skiff_nl}version="}
v=${v%%"$skiff_nl"*}
case $v in *MariaDB*) server=mariadb ;; *) server=mysql ;; esac
[ "$server" = "$flavor" ] || o=$(skiff_replication $server)
echo server=up
printf '%s\n' "version=$v"
printf '%s\n' "$o"
`

// Check decides what Apply does.
func (r *Replication) Check(p module.Probed) (*module.Change, error) {
	r.connect, r.doSeed, r.rejoin, r.reset, r.setRO, r.pending, r.summary = false, false, false, false, false, false, ""
	srv, _, err := parseServer(p.Stdout, p.ExitCode)
	if err != nil {
		return nil, err
	}
	r.srv = srv
	from := fmt.Sprintf("%s:%d", r.host, r.port)
	switch {
	case srv.notRunning():
		r.pending = true
		r.summary = fmt.Sprintf("configure replication from %s (%s)", from, srv.why())
		return &module.Change{Action: plan.Create, Summary: r.summary}, nil
	case srv.state == "down":
		return nil, srv.unreachable()
	}
	sec := shell.Sections(p.Stdout)
	if _, ok := sec["end"]; !ok {
		return nil, fmt.Errorf("reading the replication state failed: %s", shell.Scrub(orUnknown(sqlErrors(sec["status"]+sec["vars"])), r.secrets))
	}
	if e := sqlErrors(sec["status"]); e != "" {
		return nil, fmt.Errorf("SHOW SLAVE STATUS failed: %s", shell.Scrub(e, r.secrets))
	}
	st := parseReplicaStatus(sec["status"])
	vars := shell.Fields([]byte(sec["vars"]))
	var dbs []string
	for line := range strings.SplitSeq(sec["vars"], "\n") {
		if db, ok := strings.CutPrefix(line, "database="); ok {
			dbs = append(dbs, db)
		}
	}

	// MySQL says 0/1; MariaDB ≥ 10.11 has an enum: OFF, ON, NO_LOCK…
	ro := vars["read_only"] != "0" && !strings.EqualFold(vars["read_only"], "OFF")
	binlogPos := strings.TrimSpace(vars["binlog_pos"])
	if !st.configured() && !ro && r.readOnly && !r.demote && binlogPos != "" {
		return nil, fmt.Errorf("this server is a writer (read_only OFF, replicating from nobody, binary log at %s), and the inventory makes it a replica of %s: "+
			"after a switchover or failover, edit the inventory (this host in db_primary, the old primary in db_replica), then apply again. "+
			"Refusing to turn the writer into a replica (demote = true allows it)", binlogPos, from)
	}

	var parts []string
	action := plan.Update
	switch {
	case !st.configured():
		r.connect = true
		action = plan.Create
		// A server with databases and a binary log of its own was a writer
		// (or a replica whose replication was reset): it goes on from its
		// own position, and is reseeded only if that history diverged.
		r.rejoin = srv.mariadb() && binlogPos != "" && len(dbs) > 0
		r.doSeed = r.seed && !r.rejoin && strings.TrimSpace(vars["gtid_pos"]) == ""
		msg := "configure replication from " + from + " as " + r.user
		switch {
		case r.rejoin && r.seed:
			msg += " (rejoining from its own GTID position " + binlogPos + "; reseeded from a consistent dump of the primary if that history diverged from the primary's)"
		case r.rejoin:
			msg += " (rejoining from its own GTID position " + binlogPos + ")"
		case r.doSeed && len(dbs) > 0:
			msg += " (seeding from a consistent dump of the primary, which replaces the replica's copies of its databases; the replica holds " + strings.Join(dbs, ", ") + ")"
		case r.doSeed:
			msg += " (seeding from a consistent dump of the primary)"
		case r.seed:
			msg += " (no seeding: the replica has a GTID position, " + vars["gtid_pos"] + ")"
		}
		parts = append(parts, msg)
	case st["Master_Host"] != r.host || st["Master_Port"] != strconv.Itoa(r.port) || st["Master_User"] != r.user:
		r.connect = true
		parts = append(parts, fmt.Sprintf("re-point replication from %s:%s as %s to %s as %s (no reseed)", st["Master_Host"], st["Master_Port"], st["Master_User"], from, r.user))
	case !st.gtid():
		r.connect = true
		parts = append(parts, "switch replication from "+from+" to GTID positioning")
	case r.tlsCA != "" && !st.verifiedTLS(r.tlsCA):
		r.connect = true
		parts = append(parts, "switch replication from "+from+" to TLS verified with "+r.tlsCA+" ("+st.tls()+")")
	case !st.running():
		r.connect = true
		parts = append(parts, "restart replication from "+from+" ("+shell.Scrub(st.threads(), r.secrets)+")")
	}
	if ro != r.readOnly {
		r.setRO = true
		parts = append(parts, fmt.Sprintf("read_only %s -> %s", onOff(ro), onOff(r.readOnly)))
	} else if r.connect {
		r.setRO = true // cheap, and keeps the statement list simple
	}
	if len(parts) == 0 {
		return nil, nil
	}
	r.summary = strings.Join(parts, "; ")
	return &module.Change{Action: action, Summary: r.summary}, nil
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

// cnfEscaper escapes a value written in double quotes in a MySQL option
// file (mysys's my_default parser: \\ \" \n \r \t).
var cnfEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)

// Exit codes of the apply script.
const (
	exitPrimary = 20 // cannot list the primary's databases
	exitDump    = 21 // mysqldump failed
	exitLoad    = 22 // loading the dump failed
	exitGTID    = 23 // reading the primary's GTID position failed
	exitChange  = 24 // CHANGE MASTER / START SLAVE failed
	exitThreads = 25 // threads not running after the wait
	exitDiverge = 26 // the primary does not have the replica's position: histories diverged
)

// waitSeconds is how long Apply waits for both threads to run.
const waitSeconds = 30
