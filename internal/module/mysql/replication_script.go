package mysql

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// primaryClient is the client command line for the primary; $d/primary.cnf
// holds the password (--defaults-extra-file must come first).
func (r *Replication) primaryClient(prog string) string {
	return fmt.Sprintf(`%s --defaults-extra-file="$d/primary.cnf" --protocol=tcp -h %s -P %d -u %s`, prog, shell.Quote(r.host), r.port, shell.Quote(r.user))
}

// changeTLS is the TLS part of CHANGE MASTER (prefix MASTER) or CHANGE
// REPLICATION SOURCE (SOURCE): "" without tls_ca.
func (r *Replication) changeTLS(prefix string) string {
	if r.tlsCA == "" {
		return ""
	}
	return fmt.Sprintf(", %[1]s_SSL = 1, %[1]s_SSL_CA = %[2]s, %[1]s_SSL_VERIFY_SERVER_CERT = 1", prefix, sqlString(r.tlsCA))
}

// clientTLS is the TLS part of the option file with which the seed's
// clients reach the primary: the CA, and the certificate's name checked
// (MariaDB's ssl-verify-server-cert, MySQL's ssl-mode=VERIFY_IDENTITY).
func (r *Replication) clientTLS(mariadb bool) string {
	if r.tlsCA == "" {
		return ""
	}
	verify := "ssl-verify-server-cert\n"
	if !mariadb {
		verify = "ssl-mode=VERIFY_IDENTITY\n"
	}
	return "ssl-ca=\"" + cnfEscaper.Replace(r.tlsCA) + "\"\n" + verify
}

// script is what Apply runs.
func (r *Replication) script() string {
	var b strings.Builder
	mariadb := r.srv.mariadb()
	if r.reset {
		b.WriteString(runSQL("STOP SLAVE;\nRESET SLAVE ALL;\nRESET MASTER;\nSET GLOBAL gtid_slave_pos = '';\n", fmt.Sprintf(" || exit %d", exitChange)))
	}
	if r.connect {
		b.WriteString(`umask 077
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
trap 'exit 1' HUP INT TERM
cat > "$d/primary.cnf" <<'SKIFF_CNF_EOF'
[client]
password="` + cnfEscaper.Replace(r.password) + `"
` + r.clientTLS(mariadb) + `SKIFF_CNF_EOF
`)
	}
	if r.doSeed {
		dumpFlags := "--single-transaction --gtid --master-data=1"
		if !mariadb {
			dumpFlags = "--single-transaction --set-gtid-purged=ON"
		}
		// The database list is filtered by the user's privileges: without a
		// global SELECT it would silently leave databases out of the seed.
		fmt.Fprintf(&b, `out=$(%s -N -B -r 2>"$d/err" <<'%s'
SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT';
SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN %s ORDER BY 1;
%s
) || { cat "$d/err" >&2; exit %d; }
if [ "$(printf '%%s\n' "$out" | head -n 1)" = 0 ]; then
  echo 'skiff: the replication user cannot see every database of the primary: you need (at least one of) the SELECT privilege(s) on *.*' >&2
  exit %d
fi
dbs=$(printf '%%s\n' "$out" | sed 1d)
if [ -n "$dbs" ]; then
  set -f
  IFS='
'
  { echo 'SET SESSION sql_log_bin = 0;'; %s %s --routines --triggers --events --databases $dbs 2>"$d/dump.err"; echo $? >"$d/dump.rc"; } | %s >"$d/load.out" 2>&1
  load=$?
  unset IFS
  set +f
  # A failed load makes mysqldump fail too, on a closed pipe (errno 32).
  if [ "$(cat "$d/dump.rc")" != 0 ] && ! grep -q 'errno 32' "$d/dump.err"; then cat "$d/dump.err" >&2; exit %d; fi
  if [ "$load" != 0 ]; then cat "$d/load.out" >&2; exit %d; fi
  if [ "$(cat "$d/dump.rc")" != 0 ]; then cat "$d/dump.err" >&2; exit %d; fi
`, r.primaryClient("mysql"), sqlEOF, systemDBs, sqlEOF, exitPrimary, exitDump,
			r.primaryClient("mysqldump"), dumpFlags, client, exitDump, exitLoad, exitDump)
		if mariadb {
			// Nothing to dump: start from the primary's current position.
			fmt.Fprintf(&b, `else
  pos=$(%s -N -B -r 2>"$d/err" <<'%s'
SELECT @@global.gtid_binlog_pos;
%s
) || { cat "$d/err" >&2; exit %d; }
  case $pos in *[!0-9,-]*) printf '%%s\n' "skiff: unexpected GTID position from the primary: $pos" >&2; exit %d ;; esac
  %s <<SKIFF_SQL_EOF || exit %d
SET GLOBAL gtid_slave_pos = '$pos';
SKIFF_SQL_EOF
`, r.primaryClient("mysql"), sqlEOF, sqlEOF, exitGTID, exitGTID, client, exitGTID)
		}
		b.WriteString("fi\n")
	}

	var sql strings.Builder
	if r.connect {
		if mariadb {
			sql.WriteString("STOP SLAVE;\n")
			if r.rejoin {
				sql.WriteString("SET GLOBAL gtid_slave_pos = @@global.gtid_binlog_pos;\n")
			}
			fmt.Fprintf(&sql, "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %d, MASTER_USER = %s, MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos%s;\nSTART SLAVE;\n",
				sqlString(r.host), r.port, sqlString(r.user), sqlString(r.password), r.changeTLS("MASTER"))
		} else {
			fmt.Fprintf(&sql, "STOP REPLICA;\nCHANGE REPLICATION SOURCE TO SOURCE_HOST = %s, SOURCE_PORT = %d, SOURCE_USER = %s, SOURCE_PASSWORD = %s, SOURCE_AUTO_POSITION = 1%s;\nSTART REPLICA;\n",
				sqlString(r.host), r.port, sqlString(r.user), sqlString(r.password), r.changeTLS("SOURCE"))
		}
	}
	if r.setRO {
		scope := "GLOBAL"
		if !mariadb {
			scope = "PERSIST"
		}
		fmt.Fprintf(&sql, "SET %s read_only = %s;\n", scope, onOff(r.readOnly))
	}
	b.WriteString(runSQL(sql.String(), fmt.Sprintf(" || exit %d", exitChange)))
	if r.connect {
		status := "SHOW SLAVE STATUS\\G"
		if !mariadb {
			status = "SHOW REPLICA STATUS\\G"
		}
		// Both threads must run at two reads in a row: the I/O thread
		// reads Yes for a moment after it connects, before the primary
		// answers a position it does not hold with error 1236.
		fmt.Fprintf(&b, `i=0
up=0
while :; do
  st=$(%s)
  if printf '%%s\n' "$st" | grep -Eq '^ *(Slave|Replica)_IO_Running: Yes$' &&
     printf '%%s\n' "$st" | grep -Eq '^ *(Slave|Replica)_SQL_Running: Yes$'; then
    up=$((up + 1))
    [ "$up" -ge 2 ] && exit 0
  else
    up=0
  fi
  if printf '%%s\n' "$st" | grep -Eq '^ *Last_IO_Errno: 1236$'; then
    printf '%%s\n' "$st"
    exit %d
  fi
  i=$((i + 1))
  [ "$i" -ge %d ] && break
  sleep 1
done
printf '%%s\n' "$st"
exit %d
`, runSQLFlags(" --column-names", status, " 2>&1"), exitDiverge, waitSeconds, exitThreads)
	}
	return b.String()
}

// Apply seeds (if Check said so), points the replica at the primary, sets
// read_only and waits for the threads.
func (r *Replication) Apply(ctx context.Context, t transport.Transport) error {
	if r.pending {
		return fmt.Errorf("the MySQL/MariaDB server is still not running on the host: cannot configure replication")
	}
	if !r.connect && !r.setRO {
		return nil
	}
	from := fmt.Sprintf("%s:%d", r.host, r.port)
	res, err := shell.Output(ctx, t, "configuring replication from "+from, r.script(), r.secrets)
	if err != nil && res.ExitCode == exitDiverge && r.rejoin && r.seed {
		// The server's own history is not the primary's: what it holds
		// beyond the primary was never acknowledged (semi-sync), so it is
		// dropped and the server seeded again.
		r.rejoin, r.reset, r.doSeed = false, true, true
		res, err = shell.Output(ctx, t, "reseeding from "+from, r.script(), r.secrets)
	}
	if err == nil || res.ExitCode == 0 {
		return err
	}
	tail := shell.Tail(res, r.secrets)
	switch res.ExitCode {
	case exitPrimary:
		return fmt.Errorf("seeding the replica: cannot read the primary %s as %s: %s", from, r.user, tail)
	case exitDump:
		return fmt.Errorf("seeding the replica: the dump from %s failed%s: %s", from, missingPrivilege(string(res.Stderr)), tail)
	case exitLoad:
		return fmt.Errorf("seeding the replica: loading the dump of %s failed: %s", from, tail)
	case exitGTID:
		return fmt.Errorf("seeding the replica: reading or setting the GTID position of %s failed: %s", from, tail)
	case exitChange:
		return fmt.Errorf("configuring replication from %s failed: %s", from, tail)
	case exitDiverge:
		st := parseReplicaStatus(string(res.Stdout))
		return fmt.Errorf("replication from %s: the primary does not hold this server's GTID position (their histories diverged; seed = true would reseed it): %s", from, shell.Scrub(st.threads(), r.secrets))
	case exitThreads:
		st := parseReplicaStatus(string(res.Stdout))
		return fmt.Errorf("replication from %s is not running after %d s: %s", from, waitSeconds, shell.Scrub(st.threads(), r.secrets))
	}
	return err
}

// dumpPrivileges maps mysqldump's complaints to the privilege that the
// replication user lacks.
var dumpPrivileges = []struct {
	re   *regexp.Regexp
	priv string
}{
	{regexp.MustCompile(`you need \(at least one of\) the ([A-Z ,]+?) privilege`), ""},
	{regexp.MustCompile(`(?i)FLUSH TABLES WITH READ LOCK.*denied`), "RELOAD"},
	{regexp.MustCompile(`(?i)SHOW (MASTER|BINLOG) STATUS.*denied`), "REPLICATION CLIENT (BINLOG MONITOR)"},
	{regexp.MustCompile(`(?i)SHOW VIEW command denied|SHOW CREATE VIEW.*denied`), "SHOW VIEW"},
	{regexp.MustCompile(`(?i)TRIGGER command denied|SHOW TRIGGERS.*denied`), "TRIGGER"},
	{regexp.MustCompile(`(?i)(SHOW EVENTS|EVENT command).*denied|Access denied for user .* to database 'mysql'.*event`), "EVENT"},
	{regexp.MustCompile(`(?i)when using LOCK TABLES|LOCK TABLES.*denied`), "LOCK TABLES"},
	{regexp.MustCompile(`(?i)SELECT command denied|Access denied for user .* to database`), "SELECT"},
}

// missingPrivilege names the privilege a failed dump lacked, as
// " (the replication user lacks the RELOAD privilege)", or "".
func missingPrivilege(stderr string) string {
	for _, d := range dumpPrivileges {
		m := d.re.FindStringSubmatch(stderr)
		if m == nil {
			continue
		}
		priv := d.priv
		if priv == "" {
			priv = m[1]
		}
		return " (the replication user lacks the " + priv + " privilege on the primary)"
	}
	return ""
}
