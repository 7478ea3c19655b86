// Package mysql holds the task kinds that manage a local MySQL or MariaDB
// server: "mysql_database", "mysql_user", "mysql_replication" and
// "mysql_writer".
//
// Every kind talks to the server on its own host as root through the unix
// socket (`mysql --protocol=socket -uroot`: Debian's MariaDB and MySQL
// authenticate root by unix_socket/auth_socket), with the SQL on the
// client's stdin (a heredoc in the script, which itself travels on the SSH
// session's stdin): no SQL, and so no password, is ever on a command line.
// mysql_writer also asks the other db servers (and a promotion, the
// primary) over verified TLS as the replication user, whose password is in
// an option file made under umask 077 in a private temporary folder.
// The flavour is read from VERSION() ("…-MariaDB") and MySQL 8 syntax is used
// where it differs. MariaDB ≥ 10.4 and MySQL ≥ 8.0.23 are supported (MySQL
// 8.4 only with mysql_native_password enabled: mysql_user relies on it).
//
// A probe that finds the server missing or not running reports it, and
// Check then describes the whole change (so that `skiff plan` works on a
// fresh host whose server a package task installs first); Apply fails if the
// server is still not reachable then.
//
// None of these kinds can be undone: they do not implement
// module.Reversible, and the engine records their changes as irreversible.
// Dropping a database or an account a rollback thinks it created, or
// putting back a password or replication settings, could lose data or
// bring secrets into the journal; a rollback reports these changes as
// not undone, for the operator to judge.
package mysql

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// client is how every script reaches the local server: as root over the
// unix socket, tab-separated rows without headers, values unescaped. TLS
// is off on the socket, which never leaves the host: setting TLS up costs
// the client about 80 ms of CPU at every start, ten times the rest of a
// probe. MariaDB's client says so with --skip-ssl, MySQL 8's with
// --ssl-mode=DISABLED; MariaDB's is the one that installs a `mariadb`
// command, which the shell finds without starting anything. A probe decides
// once, at its start.
const client = "mysql ${skiff_tls_off:-$(" + tlsOff + ")} --protocol=socket -uroot -N -B -r"

// tlsOff prints the client's option that turns TLS off.
const tlsOff = "if command -v mariadb >/dev/null 2>&1; then echo --skip-ssl; else echo --ssl-mode=DISABLED; fi"

// sqlEOF ends the heredocs that carry SQL.
const sqlEOF = "SKIFF_SQL_EOF"

// sqlPrelude starts every SQL script: a known session sql_mode (in
// particular without NO_BACKSLASH_ESCAPES), so that sqlString's escapes mean
// what they say whatever the server's global mode.
const sqlPrelude = "SET SESSION sql_mode = '';\n"

// runSQL returns the sh command that runs sql as root on the local server,
// the SQL in a heredoc (quoted delimiter: no expansion). tail is appended to
// the command line (" 2>&1 && echo done"). Every value in sql is quoted with
// sqlString or ident, which never leave a raw line break, so no line of it
// can equal the delimiter.
func runSQL(sql, tail string) string { return runSQLFlags("", sql, tail) }

// runSQLFlags is runSQL with more client flags (" --force").
func runSQLFlags(flags, sql, tail string) string {
	body := sqlPrelude + strings.TrimSuffix(sql, "\n")
	eof := sqlEOF
	for strings.Contains("\n"+body+"\n", "\n"+eof+"\n") { // cannot happen; cheap to rule out
		eof += "_"
	}
	return client + flags + " <<'" + eof + "'" + tail + "\n" + body + "\n" + eof + "\n"
}

// sqlErrors returns the client's "ERROR …" lines in out, "" when there
// are none: what a failed probe may quote (its other output can hold
// password hashes).
func sqlErrors(out string) string {
	var errs []string
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "ERROR") {
			errs = append(errs, line)
		}
	}
	return strings.Join(errs, "; ")
}

// orUnknown is msg, or a placeholder when it is empty.
func orUnknown(msg string) string {
	if msg == "" {
		return "no error message"
	}
	return msg
}

var sqlEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\x00", `\0`, "\x1a", `\Z`)

// sqlString quotes s as an SQL string literal (with backslash escapes, which
// sqlPrelude guarantees), on one line.
func sqlString(s string) string { return "'" + sqlEscaper.Replace(s) + "'" }

// ident quotes s as an SQL identifier.
func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// account quotes user@host for SQL.
func account(user, host string) string { return sqlString(user) + "@" + sqlString(host) }

// server is what the probe prelude found out about the local server.
type server struct {
	state   string // "up", "down" (client there, server not reachable), "missing" (no client)
	err     string // the client's error when down
	version string // VERSION()
}

func (s server) mariadb() bool { return strings.Contains(s.version, "MariaDB") }

// atLeast reports whether the server's version is at least major.minor.
func (s server) atLeast(major, minor int) bool {
	parts := strings.SplitN(s.version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, _ := strconv.Atoi(parts[0])
	mi, _ := strconv.Atoi(strings.TrimLeftFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return ma > major || ma == major && mi >= minor
}

// notRunning reports whether the server is missing or not running, which
// Check reports as a pending change rather than an error.
func (s server) notRunning() bool {
	if s.state == "missing" {
		return true
	}
	if s.state != "down" {
		return false
	}
	// 2002/2003: cannot connect through the socket / to the server.
	return strings.Contains(s.err, "ERROR 2002") || strings.Contains(s.err, "ERROR 2003") || strings.Contains(s.err, "Can't connect")
}

// why says in a few words why the server is not running, for summaries.
func (s server) why() string {
	if s.state == "missing" {
		return "MySQL/MariaDB not installed yet"
	}
	return "server not running yet"
}

// probeInOneCall is a whole probe in one client call, where the probe's
// SQL does not depend on the server's flavor: it asks VERSION() first, in
// the same call as sql, and prints "server=missing", "server=down" with
// "error=…" lines, or "server=up" and "version=…" (what parseServer
// reads), then "[section]" and: with emit emitEnd, the client's output
// then "[end]" when the client succeeded; with emitGrants, the output with the IDENTIFIED parts
// of SHOW GRANTS cut off (grantsSed). A client start costs a host more CPU
// than the queries (about 14 ms with the server's side): one per probe
// instead of two, and the probe helper runs one for every such probe of
// a batch (native.go). The client runs unbuffered (-n), so its errors
// come in order with its rows; the version's line is looked for anywhere
// all the same.
func probeInOneCall(q oneCall) string {
	flags := " -n"
	if q.Force {
		flags += " --force"
	}
	var b strings.Builder
	b.WriteString(`command -v mysql >/dev/null 2>&1 || { echo server=missing; exit 0; }
skiff_tls_off=--ssl-mode=DISABLED
command -v mariadb >/dev/null 2>&1 && skiff_tls_off=--skip-ssl
o=$(` + runSQLFlags(flags, "SELECT CONCAT('"+versionMark+"', VERSION());\n"+q.SQL, " 2>&1") + `)
rc=$?
x="${skiff_nl}$o"
case $x in
*"${skiff_nl}` + versionMark + `"*) ;;
*) echo server=down; printf '%s\n' "$o" | head -n 3 | sed 's/^/error=/'; exit 0 ;;
esac
pre=${x%%"${skiff_nl}` + versionMark + `"*}
v=${x#*"${skiff_nl}` + versionMark + `"}
case $v in *"${skiff_nl}"*) post=${v#*"${skiff_nl}"} v=${v%%"${skiff_nl}"*} ;; *) post= ;; esac
o=${pre#"${skiff_nl}"}
[ -n "$o" ] && [ -n "$post" ] && o="$o${skiff_nl}"
o="$o$post"
echo server=up
printf '%s\n' "version=$v"
echo '[` + q.Section + `]'
`)
	switch q.Emit {
	case emitEnd:
		b.WriteString("[ -n \"$o\" ] && printf '%s\\n' \"$o\"\n[ \"$rc\" = 0 ] && echo '[end]'\n")
	case emitGrants:
		b.WriteString("[ -n \"$o\" ] && printf '%s\\n' \"$o\" | " + grantsSed + "\n")
	}
	return "skiff_nl='\n'\n" + b.String()
}

// oneCall is a probe of probeInOneCall; it is also the probe helper's
// query for it.
type oneCall struct {
	Section string `json:"section"`
	Force   bool   `json:"force,omitempty"` // --force: go on after a failed statement
	SQL     string `json:"sql"`
	Emit    string `json:"emit"`
}

// How probeInOneCall prints the client's output.
const (
	emitEnd    = "end"
	emitGrants = "grants"
)

// grantsSed cuts the IDENTIFIED parts (password hashes) off SHOW GRANTS
// lines; grantsWithOption and grantsRest are the same, for the helper.
const grantsSed = `sed -e 's/ IDENTIFIED .* WITH GRANT OPTION/ WITH GRANT OPTION/' -e 's/ IDENTIFIED .*//'`

// versionMark starts the line of VERSION() in probeInOneCall's output.
const versionMark = "skiff-server-version="

// parseServer reads the prelude's lines from probe output.
func parseServer(out []byte, exitCode int) (server, map[string]string, error) {
	sec := shell.Sections(out)
	f := shell.Fields([]byte(sec[""]))
	s := server{state: f["server"], version: f["version"]}
	switch s.state {
	case "up", "missing":
	case "down":
		var errs []string
		for line := range strings.SplitSeq(sec[""], "\n") {
			if e, ok := strings.CutPrefix(line, "error="); ok {
				errs = append(errs, e)
			}
		}
		s.err = strings.Join(errs, "\n")
	default:
		return server{}, nil, fmt.Errorf("mysql probe printed no server state (exit %d)", exitCode)
	}
	return s, f, nil
}

// unreachable is Check's error when the server runs but root cannot use it.
func (s server) unreachable() error {
	return fmt.Errorf("cannot use the local MySQL/MariaDB server as root through the unix socket: %s", s.err)
}
