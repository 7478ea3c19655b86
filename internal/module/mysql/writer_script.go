package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport"
)

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
