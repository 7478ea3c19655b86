package mysql

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
)

// NativeQueries is the helper's kind for the database and user probes:
// one client call for all of a batch's instead of one each.
const NativeQueries = "mysql"

// Natives are the mysql kinds' native answerers, for their registration.
var Natives = map[string]module.NativeAnswerer{NativeQueries: AnswerQueries}

// NativeProbe implements module.NativeProber.
func (d *Database) NativeProbe() (string, any, bool) {
	if d.name == "" {
		return "", nil, false
	}
	return NativeQueries, d.oneCall(), true
}

// NativeProbe implements module.NativeProber.
func (u *User) NativeProbe() (string, any, bool) {
	if u.name == "" || len(u.hosts) == 0 {
		return "", nil, false
	}
	return NativeQueries, u.oneCall(), true
}

// grantsWithOption and grantsRest are grantsSed's two substitutions.
var (
	grantsWithOption = regexp.MustCompile(` IDENTIFIED .* WITH GRANT OPTION`)
	grantsRest       = regexp.MustCompile(` IDENTIFIED .*`)
)

// AnswerQueries is the helper's answerer for NativeQueries. It runs the
// client once, unbuffered and with --force, on every probe's SQL, each
// after a line that marks where its output starts, and prints for each
// what its probeInOneCall fragment prints: the SQL, the client and the
// order of output lines are the same. A probe without --force stops at
// its first error; here the others go on, and its "[end]" is left out
// when its part shows an error, as the failed client's status would.
// Where the server cannot be reached, all are declined: the fragments
// then say why.
func AnswerQueries(queries [][]byte) []module.NativeAnswer {
	out := make([]module.NativeAnswer, len(queries))
	qs := make([]*oneCall, len(queries))
	any := false
	for i, raw := range queries {
		var q oneCall
		if json.Unmarshal(raw, &q) != nil || q.Section == "" || (q.Emit != emitEnd && q.Emit != emitGrants) {
			continue
		}
		qs[i], any = &q, true
	}
	if !any {
		return out
	}
	if _, err := exec.LookPath("mysql"); err != nil {
		for i, q := range qs {
			if q != nil {
				out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: []byte("server=missing\n")}, OK: true}
			}
		}
		return out
	}
	tls := "--ssl-mode=DISABLED"
	if _, err := exec.LookPath("mariadb"); err == nil {
		tls = "--skip-ssl"
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	mark := "skiff-part-" + hex.EncodeToString(r[:]) + "-"
	var sql strings.Builder
	sql.WriteString(sqlPrelude + "SELECT CONCAT('" + versionMark + "', VERSION());\n")
	for i, q := range qs {
		if q != nil {
			sql.WriteString("SELECT '" + mark + strconv.Itoa(i) + "';\n" + strings.TrimSuffix(q.SQL, "\n") + "\n")
		}
	}
	cmd := exec.Command("mysql", tls, "--protocol=socket", "-uroot", "-N", "-B", "-r", "-n", "--force")
	cmd.Stdin = strings.NewReader(sql.String())
	var both bytes.Buffer
	cmd.Stdout, cmd.Stderr = &both, &both
	_ = cmd.Run() // --force: a failed statement sets the status; parts say which
	lines := strings.Split(strings.TrimSuffix(both.String(), "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], versionMark) {
		return out // down, or something before the version: the fragments run
	}
	version := strings.TrimPrefix(lines[0], versionMark)
	parts := map[string][]string{}
	current := ""
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, mark) {
			current = strings.TrimPrefix(l, mark)
			parts[current] = []string{}
			continue
		}
		if current == "" {
			return out
		}
		parts[current] = append(parts[current], l)
	}
	for i, q := range qs {
		part, ok := parts[strconv.Itoa(i)]
		if q == nil || !ok {
			continue
		}
		// The fragment's $(...) drops trailing empty lines.
		for len(part) > 0 && part[len(part)-1] == "" {
			part = part[:len(part)-1]
		}
		var b strings.Builder
		b.WriteString("server=up\nversion=" + version + "\n[" + q.Section + "]\n")
		failed := false
		for _, l := range part {
			if q.Emit == emitGrants {
				l = grantsRest.ReplaceAllString(grantsWithOption.ReplaceAllString(l, " WITH GRANT OPTION"), "")
			}
			failed = failed || strings.HasPrefix(l, "ERROR")
			b.WriteString(l + "\n")
		}
		if q.Emit == emitEnd && !failed {
			b.WriteString("[end]\n")
		}
		out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: []byte(b.String())}, OK: true}
	}
	return out
}
