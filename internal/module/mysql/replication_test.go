package mysql

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

const replPassword = `r"e#p'l \ pw $(id)` + "\n2nd line"

func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func replication(t *testing.T, extra map[string]cty.Value) *Replication {
	t.Helper()
	vals := map[string]cty.Value{
		"primary_host": cty.StringVal("127.0.0.1"),
		"primary_port": cty.NumberIntVal(3307),
		"user":         cty.StringVal("repl"),
		"password":     secret.Wrap(cty.StringVal(replPassword)),
	}
	for k, v := range extra {
		vals[k] = v
	}
	return moduletest.MustBuild(t, NewReplication, moduletest.Args("mysql_replication", "r", vals)).(*Replication)
}

// replProbe builds the probe output: SHOW SLAVE STATUS\G text, then vars.
func replProbe(version, status string, vars ...string) module.Probed {
	return probed(version, "[status]\n"+status+"[vars]\n"+strings.Join(vars, "\n")+"\n[end]\n")
}

func TestParseReplicaStatus(t *testing.T) {
	st := parseReplicaStatus(sample(t, "slave-status-running.txt"))
	if st["Master_Host"] != "127.0.0.1" || st["Master_User"] != "repl" || st["Master_Port"] != "3307" ||
		!st.running() || !st.gtid() || !st.configured() || st["Last_IO_Error"] != "" {
		t.Errorf("running: %v", st)
	}
	st = parseReplicaStatus(sample(t, "slave-status-io-error.txt"))
	if st.running() || st["Slave_IO_Running"] != "Connecting" ||
		!strings.HasSuffix(st["Last_IO_Error"], "message: Access denied for user 'repl'@'localhost' (using password: YES)") {
		t.Errorf("io error: %v", st)
	}
	st = parseReplicaStatus(sample(t, "slave-status-sql-error.txt"))
	if st.running() || st["Slave_SQL_Running"] != "No" || !strings.HasPrefix(st["Last_SQL_Error"], "Error 'Duplicate entry '10' for key 'PRIMARY''") {
		t.Errorf("sql error: %v", st)
	}
	if st := parseReplicaStatus(""); st.configured() || len(st) != 0 {
		t.Errorf("empty: %v", st)
	}
	// MySQL 8's SHOW REPLICA STATUS names.
	my := parseReplicaStatus("*************************** 1. row ***************************\n" +
		"             Replica_IO_State: Waiting for source to send event\n" +
		"                  Source_Host: 10.0.0.9\n                  Source_User: repl\n                  Source_Port: 3306\n" +
		"           Replica_IO_Running: Yes\n          Replica_SQL_Running: Yes\n                Auto_Position: 1\n")
	if my["Master_Host"] != "10.0.0.9" || !my.running() || !my.gtid() {
		t.Errorf("mysql: %v", my)
	}
}

func TestReplicationCheck(t *testing.T) {
	running := sample(t, "slave-status-running.txt")
	for _, tc := range []struct {
		name    string
		extra   map[string]cty.Value
		probe   module.Probed
		action  plan.Action
		summary string // prefix; "" for no change
		seed    bool
	}{
		{"replicating", nil, replProbe(mariaVersion, running, "read_only=ON", "gtid_pos=0-1-12", "database=foobar"), "", "", false},
		{"read_only off", nil, replProbe(mariaVersion, running, "read_only=OFF", "gtid_pos=0-1-12"), plan.Update, "read_only OFF -> ON", false},
		{"read_only wanted off", map[string]cty.Value{"read_only": cty.False}, replProbe(mariaVersion, running, "read_only=1"), plan.Update, "read_only ON -> OFF", false},
		{"io error", nil, replProbe(mariaVersion, sample(t, "slave-status-io-error.txt"), "read_only=ON"), plan.Update,
			"restart replication from 127.0.0.1:3307 (IO thread Connecting, SQL thread Yes; last IO error: error connecting to master", false},
		{"sql error", nil, replProbe(mariaVersion, sample(t, "slave-status-sql-error.txt"), "read_only=ON"), plan.Update,
			"restart replication from 127.0.0.1:3307 (IO thread Yes, SQL thread No; last SQL error: Error 'Duplicate entry", false},
		{"elsewhere", map[string]cty.Value{"primary_host": cty.StringVal("10.0.0.9"), "primary_port": cty.NumberIntVal(3306)},
			replProbe(mariaVersion, running, "read_only=ON"), plan.Update,
			"re-point replication from 127.0.0.1:3307 as repl to 10.0.0.9:3306 as repl (no reseed)", false},
		{"never configured", nil, replProbe(mariaVersion, "", "read_only=OFF", "gtid_pos="), plan.Create,
			"configure replication from 127.0.0.1:3307 as repl (seeding from a consistent dump of the primary); read_only OFF -> ON", true},
		{"never configured, has data", nil, replProbe(mariaVersion, "", "read_only=ON", "gtid_pos=", "database=foobar"), plan.Create,
			"configure replication from 127.0.0.1:3307 as repl (seeding from a consistent dump of the primary, which replaces the replica's copies of its databases; the replica holds foobar)", true},
		{"has a GTID position", nil, replProbe(mariaVersion, "", "read_only=ON", "gtid_pos=0-1-10"), plan.Create,
			"configure replication from 127.0.0.1:3307 as repl (no seeding: the replica has a GTID position, 0-1-10)", false},
		{"seed off", map[string]cty.Value{"seed": cty.False}, replProbe(mariaVersion, "", "read_only=ON", "gtid_pos="), plan.Create,
			"configure replication from 127.0.0.1:3307 as repl", false},
		{"server down", nil, downProbe, plan.Create, "configure replication from 127.0.0.1:3307 (server not running yet)", false},
	} {
		r := replication(t, tc.extra)
		ch, err := r.Check(tc.probe)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.summary == "" {
			if ch != nil {
				t.Errorf("%s: unexpected change %+v", tc.name, ch)
			}
			continue
		}
		if ch == nil || ch.Action != tc.action || !strings.HasPrefix(ch.Summary, tc.summary) {
			t.Errorf("%s: change %+v\nwant %s %q", tc.name, ch, tc.action, tc.summary)
			continue
		}
		if r.doSeed != tc.seed {
			t.Errorf("%s: seed = %v", tc.name, r.doSeed)
		}
		moduletest.NoSecret(t, replPassword, ch, nil)
	}
}

func TestReplicationCheckErrors(t *testing.T) {
	r := replication(t, nil)
	if _, err := r.Check(deniedProbe); err == nil {
		t.Errorf("access denied accepted")
	}
	if _, err := r.Check(probed(mariaVersion, "[status]\nERROR 1227 (42000) at line 2: Access denied; you need (at least one of) the SUPER privilege(s)\n[vars]\n[end]\n")); err == nil || !strings.Contains(err.Error(), "ERROR 1227") {
		t.Errorf("status error: %v", err)
	}
	if _, err := r.Check(probed(mariaVersion, "[status]\n")); err == nil {
		t.Errorf("cut-short probe accepted")
	}
}

func TestReplicationSeedScript(t *testing.T) {
	r := replication(t, nil)
	if _, err := r.Check(replProbe(mariaVersion, "", "read_only=OFF", "gtid_pos=")); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := r.Apply(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	script := rec.scripts[0]
	shParses(t, script)
	assertSecretOnlyInHeredocs(t, rec.scripts, replPassword, sqlEscaper.Replace(replPassword), cnfEscaper.Replace(replPassword))
	// The option file is written under umask 077 in a private directory
	// removed on exit; the dump takes the options of the task.
	order := []string{
		"umask 077",
		`d=$(mktemp -d)`,
		`trap 'rm -rf "$d"' EXIT`,
		`password="` + cnfEscaper.Replace(replPassword) + `"`,
		"SET SESSION sql_log_bin = 0;",
		`mysqldump --defaults-extra-file="$d/primary.cnf" --protocol=tcp -h '127.0.0.1' -P 3307 -u 'repl' --single-transaction --gtid --master-data=1 --routines --triggers --events --databases $dbs`,
		"STOP SLAVE;",
		"CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = 3307, MASTER_USER = 'repl', MASTER_PASSWORD = " + sqlString(replPassword) + ", MASTER_USE_GTID = slave_pos;",
		"START SLAVE;",
		"SET GLOBAL read_only = ON;",
		"SHOW SLAVE STATUS\\G",
		"exit 25",
	}
	last := -1
	for _, w := range order {
		i := strings.Index(script, w)
		if i < 0 || i < last {
			t.Fatalf("script lacks %q (or out of order):\n%s", w, script)
		}
		last = i
	}

	// MySQL 8: its own dump flags and statements.
	r = replication(t, nil)
	r.Check(replProbe("8.0.36", "", "read_only=0", "gtid_pos="))
	rec = &recorder{}
	r.Apply(context.Background(), rec)
	for _, w := range []string{"--set-gtid-purged=ON", "CHANGE REPLICATION SOURCE TO SOURCE_HOST = '127.0.0.1'", "SOURCE_AUTO_POSITION = 1;", "START REPLICA;", "SET PERSIST read_only = ON;", "SHOW REPLICA STATUS\\G"} {
		if !strings.Contains(rec.scripts[0], w) {
			t.Errorf("MySQL script lacks %q", w)
		}
	}
	shParses(t, rec.scripts[0])
	assertSecretOnlyInHeredocs(t, rec.scripts, replPassword, sqlEscaper.Replace(replPassword))

	// Restart without seeding: no dump, no option file.
	r = replication(t, nil)
	r.Check(replProbe(mariaVersion, sample(t, "slave-status-sql-error.txt"), "read_only=ON"))
	rec = &recorder{}
	r.Apply(context.Background(), rec)
	if strings.Contains(rec.scripts[0], "mysqldump") || !strings.Contains(rec.scripts[0], "CHANGE MASTER TO") {
		t.Errorf("restart script:\n%s", rec.scripts[0])
	}
	// read_only alone: one statement.
	r = replication(t, nil)
	r.Check(replProbe(mariaVersion, sample(t, "slave-status-running.txt"), "read_only=OFF"))
	rec = &recorder{}
	r.Apply(context.Background(), rec)
	if s := rec.scripts[0]; strings.Contains(s, "CHANGE MASTER") || strings.Contains(s, replPassword) || !strings.Contains(s, "SET GLOBAL read_only = ON;") {
		t.Errorf("read_only script:\n%s", s)
	}
}

func TestReplicationApplyErrors(t *testing.T) {
	check := func() *Replication {
		r := replication(t, nil)
		if _, err := r.Check(replProbe(mariaVersion, "", "read_only=OFF", "gtid_pos=")); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		res  transport.Result
		want []string
	}{
		{transport.Result{ExitCode: exitDump, Stderr: []byte("mysqldump: Couldn't execute 'show events': Access denied for user 'repl'@'10.0.0.9' to database 'foobar' (1044)")},
			[]string{"the dump from 127.0.0.1:3307 failed (the replication user lacks the EVENT privilege on the primary)", "show events"}},
		{transport.Result{ExitCode: exitDump, Stderr: []byte("mysqldump: Couldn't execute 'FLUSH TABLES WITH READ LOCK': Access denied; you need (at least one of) the RELOAD privilege(s) for this operation (1227)")},
			[]string{"lacks the RELOAD privilege"}},
		{transport.Result{ExitCode: exitPrimary, Stderr: []byte("ERROR 1045 (28000): Access denied for user 'repl'@'10.0.0.9' (using password: YES) pw=" + replPassword)},
			[]string{"cannot read the primary 127.0.0.1:3307 as repl", "ERROR 1045", "pw=(sensitive)"}},
		{transport.Result{ExitCode: exitThreads, Stdout: []byte(sample(t, "slave-status-io-error.txt"))},
			[]string{"not running after 30 s: IO thread Connecting, SQL thread Yes; last IO error: error connecting to master 'repl@127.0.0.1:3307'"}},
		{transport.Result{ExitCode: exitChange, Stderr: []byte("ERROR 1198 (HY000): This operation cannot be performed as you have a running slave")},
			[]string{"configuring replication from 127.0.0.1:3307 failed", "ERROR 1198"}},
	} {
		err := check().Apply(context.Background(), &recorder{results: []transport.Result{tc.res}})
		if err == nil {
			t.Fatalf("exit %d: no error", tc.res.ExitCode)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("exit %d: %q lacks %q", tc.res.ExitCode, err, w)
			}
		}
		moduletest.NoSecret(t, replPassword, nil, err)
	}
	r := replication(t, nil)
	r.Check(missingProbe)
	if err := r.Apply(context.Background(), &recorder{}); err == nil || !strings.Contains(err.Error(), "still not running") {
		t.Errorf("pending: %v", err)
	}
}

// TestReplicationSeedRuns runs the seed script with sh against fake mysql
// and mysqldump commands: the option file is private and removed, the dump
// is piped into the local client, the threads are waited for.
func TestReplicationSeedRuns(t *testing.T) {
	bin := t.TempDir()
	log := filepath.Join(bin, "log")
	tmp := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// mysql: answers the database list and SHOW SLAVE STATUS, swallows the rest.
	write("mysql", `in=$(cat)
echo "mysql $*" >> `+log+`
case $in in
*"USER_PRIVILEGES"*) echo 1; echo foobar; echo "other db" ;;
*"SHOW SLAVE STATUS"*) cat `+filepath.Join(mustAbs(t, "testdata"), "slave-status-running.txt")+` ;;
*"-- dump"*) echo "load: $(printf '%s\n' "$in" | head -n 1)" >> `+log+` ;;
esac
`)
	// mysqldump: records its option file's mode and content.
	write("mysqldump", `f=${1#--defaults-extra-file=}
echo "mysqldump $*" >> `+log+`
echo "mode $(stat -c %a "$f")" >> `+log+`
cat "$f" >> `+log+`
echo "-- dump"
`)
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	t.Setenv("TMPDIR", tmp)

	r := replication(t, nil)
	if _, err := r.Check(replProbe(mariaVersion, "", "read_only=OFF", "gtid_pos=")); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	b, _ := os.ReadFile(log)
	got := string(b)
	for _, w := range []string{
		"mode 600",
		"[client]\npassword=\"" + cnfEscaper.Replace(replPassword) + "\"\n",
		"--databases foobar other db\n", // one argument per database: the names survive
		"load: SET SESSION sql_log_bin = 0;",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("log lacks %q:\n%s", w, got)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMissingPrivilege(t *testing.T) {
	for msg, want := range map[string]string{
		"mysqldump: Couldn't execute 'show create table `vv`': SHOW VIEW command denied to user 'repl'@'localhost' for table `foobar`.`vv` (1142)":                     "SHOW VIEW",
		"mysqldump: Couldn't execute 'FLUSH TABLES WITH READ LOCK': Access denied; you need (at least one of) the RELOAD privilege(s) for this operation (1227)":       "RELOAD",
		"mysqldump: Couldn't execute 'SHOW MASTER STATUS': Access denied; you need (at least one of) the SUPER, BINLOG MONITOR privilege(s) for this operation (1227)": "SUPER, BINLOG MONITOR",
		"mysqldump: Got error: 1044: \"Access denied for user 'repl'@'%' to database 'foobar'\" when selecting the database":                                           "SELECT",
		"mysqldump: Got error: 1044: Access denied for user 'repl'@'%' to database 'foobar' when using LOCK TABLES":                                                    "LOCK TABLES",
		"mysqldump: Got error: 2005: Unknown server host 'nope' (-2) when trying to connect":                                                                           "",
	} {
		got := missingPrivilege(msg)
		if want == "" && got != "" || want != "" && !strings.Contains(got, "lacks the "+want+" privilege") {
			t.Errorf("%s:\n got %q, want %s", msg, got, want)
		}
	}
}

func TestReplicationValidation(t *testing.T) {
	pw := secret.Wrap(cty.StringVal("x"))
	for _, tc := range []struct {
		vals map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{"user": cty.StringVal("repl"), "password": pw}, `"primary_host"`},
		{map[string]cty.Value{"primary_host": cty.StringVal("h"), "password": pw}, `"user"`},
		{map[string]cty.Value{"primary_host": cty.StringVal("h"), "user": cty.StringVal("repl")}, `"password"`},
		{map[string]cty.Value{"primary_host": cty.StringVal("-oProxy=x"), "user": cty.StringVal("repl"), "password": pw}, "not a host name"},
		{map[string]cty.Value{"primary_host": cty.StringVal("a b"), "user": cty.StringVal("repl"), "password": pw}, "not a host name"},
		{map[string]cty.Value{"primary_host": cty.StringVal("h"), "primary_port": cty.NumberIntVal(0), "user": cty.StringVal("repl"), "password": pw}, "port number"},
		{map[string]cty.Value{"primary_host": cty.StringVal("h"), "user": cty.StringVal("repl"), "password": cty.StringVal("")}, "must not be empty"},
		{map[string]cty.Value{"primary_host": cty.StringVal("h"), "user": secret.Wrap(cty.StringVal("repl")), "password": pw}, "must not derive from a secret"},
		{map[string]cty.Value{"primary_host": cty.StringVal("h"), "user": cty.StringVal("repl"), "password": pw, "tls_ca": cty.StringVal("ca.crt")}, "absolute path"},
	} {
		_, diags := moduletest.Build(NewReplication, moduletest.Args("mysql_replication", "r", tc.vals))
		moduletest.DiagsContain(t, diags, tc.want)
	}
	r := replication(t, nil)
	shParses(t, r.Probe())
	if strings.Contains(r.Probe(), "password") || strings.Contains(r.Probe(), "r\"e#p") {
		t.Errorf("probe mentions the password")
	}
}

// With tls_ca, replication that runs without verified TLS is switched to
// it (no reseed); replication with it is left alone; the seed's clients
// and CHANGE MASTER take the CA and verify the primary's name.
func TestReplicationTLS(t *testing.T) {
	ca := map[string]cty.Value{"tls_ca": cty.StringVal("/etc/mysql/tls/ca.crt")}
	running := sample(t, "slave-status-running.txt")
	verified := strings.NewReplacer(
		"Master_SSL_Allowed: No", "Master_SSL_Allowed: Yes",
		"Master_SSL_CA_File: \n", "Master_SSL_CA_File: /etc/mysql/tls/ca.crt\n",
		"Master_SSL_Verify_Server_Cert: No", "Master_SSL_Verify_Server_Cert: Yes",
	).Replace(running)
	if verified == running || !strings.Contains(verified, "Master_SSL_CA_File: /etc/mysql/tls/ca.crt") {
		t.Fatal("sample without the TLS fields")
	}
	unverified := strings.Replace(verified, "Master_SSL_Verify_Server_Cert: Yes", "Master_SSL_Verify_Server_Cert: No", 1)

	for _, tc := range []struct {
		name, status, want string
	}{
		{"clear text", running, "switch replication from 127.0.0.1:3307 to TLS verified with /etc/mysql/tls/ca.crt (now without TLS)"},
		{"not verified", unverified, "switch replication from 127.0.0.1:3307 to TLS verified with /etc/mysql/tls/ca.crt (now TLS with CA /etc/mysql/tls/ca.crt, the certificate not verified)"},
		{"verified", verified, ""},
	} {
		r := replication(t, ca)
		ch, err := r.Check(replProbe(mariaVersion, tc.status, "read_only=ON", "gtid_pos=0-1-12"))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		switch {
		case tc.want == "" && ch != nil:
			t.Errorf("%s: unexpected change %q", tc.name, ch.Summary)
		case tc.want != "" && (ch == nil || ch.Summary != tc.want):
			t.Errorf("%s: change %+v, want %q", tc.name, ch, tc.want)
		}
		if tc.want == "" {
			continue
		}
		rec := &recorder{}
		if err := r.Apply(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		s := rec.scripts[0]
		if strings.Contains(s, "mysqldump") || !strings.Contains(s, "MASTER_USE_GTID = slave_pos, MASTER_SSL = 1, MASTER_SSL_CA = '/etc/mysql/tls/ca.crt', MASTER_SSL_VERIFY_SERVER_CERT = 1;") {
			t.Errorf("%s: script:\n%s", tc.name, s)
		}
	}
	// Without tls_ca the TLS settings are not looked at.
	if ch, err := replication(t, nil).Check(replProbe(mariaVersion, unverified, "read_only=ON")); err != nil || ch != nil {
		t.Errorf("without tls_ca: %+v %v", ch, err)
	}

	// The seed reaches the primary with the CA, verifying its name.
	for _, tc := range []struct{ version, verify, change string }{
		{mariaVersion, "ssl-verify-server-cert\n", "MASTER_SSL_VERIFY_SERVER_CERT = 1"},
		{"8.0.36", "ssl-mode=VERIFY_IDENTITY\n", "SOURCE_AUTO_POSITION = 1, SOURCE_SSL = 1, SOURCE_SSL_CA = '/etc/mysql/tls/ca.crt', SOURCE_SSL_VERIFY_SERVER_CERT = 1;"},
	} {
		r := replication(t, ca)
		if _, err := r.Check(replProbe(tc.version, "", "read_only=OFF", "gtid_pos=")); err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		r.Apply(context.Background(), rec)
		s := rec.scripts[0]
		cnf := "ssl-ca=\"/etc/mysql/tls/ca.crt\"\n" + tc.verify + "SKIFF_CNF_EOF\n"
		if !strings.Contains(s, cnf) || !strings.Contains(s, "mysqldump") || !strings.Contains(s, tc.change) {
			t.Errorf("%s: seed script lacks %q or %q:\n%s", tc.version, cnf, tc.change, s)
		}
		shParses(t, s)
	}
}

// A writer (read_only off, replicating from nobody, a binary log of its
// own) is not turned into a replica unless demote says so; a fenced old
// primary rejoins from its own position, and is reseeded only when the
// primary does not hold that position.
func TestReplicationFormerWriter(t *testing.T) {
	writer := replProbe(mariaVersion, "", "read_only=OFF", "gtid_pos=", "binlog_pos=0-2-57", "database=foobar")
	r := replication(t, nil)
	_, err := r.Check(writer)
	if err == nil || !strings.Contains(err.Error(), "this server is a writer (read_only OFF, replicating from nobody, binary log at 0-2-57), and the inventory makes it a replica of 127.0.0.1:3307") ||
		!strings.Contains(err.Error(), "edit the inventory (this host in db_primary, the old primary in db_replica)") {
		t.Errorf("a writer made a replica: %v", err)
	}

	r = replication(t, map[string]cty.Value{"demote": cty.True})
	ch, err := r.Check(writer)
	if err != nil || ch == nil || !strings.HasPrefix(ch.Summary, "configure replication from 127.0.0.1:3307 as repl (rejoining from its own GTID position 0-2-57; reseeded") ||
		!strings.Contains(ch.Summary, "read_only OFF -> ON") || r.doSeed || !r.rejoin {
		t.Fatalf("demote: %+v %v (seed %v, rejoin %v)", ch, err, r.doSeed, r.rejoin)
	}

	// Fenced (read-only at start): no refusal needed; it rejoins.
	r = replication(t, nil)
	ch, err = r.Check(replProbe(mariaVersion, "", "read_only=ON", "gtid_pos=0-1-3", "binlog_pos=0-1-60", "database=foobar"))
	if err != nil || ch == nil || !r.rejoin || r.doSeed {
		t.Fatalf("fenced old primary: %+v %v (seed %v, rejoin %v)", ch, err, r.doSeed, r.rejoin)
	}
	rec := &recorder{results: []transport.Result{{ExitCode: exitDiverge, Stdout: []byte("Last_IO_Errno: 1236\n")}, {}}}
	if err := r.Apply(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.scripts) != 2 {
		t.Fatalf("%d scripts, want the rejoin then the reseed", len(rec.scripts))
	}
	first, second := rec.scripts[0], rec.scripts[1]
	shParses(t, first)
	shParses(t, second)
	for _, w := range []string{"STOP SLAVE;\nSET GLOBAL gtid_slave_pos = @@global.gtid_binlog_pos;\nCHANGE MASTER TO", "Last_IO_Errno: 1236", "exit 26"} {
		if !strings.Contains(first, w) {
			t.Errorf("rejoin script lacks %q:\n%s", w, first)
		}
	}
	if strings.Contains(first, "mysqldump") {
		t.Errorf("rejoin script seeds:\n%s", first)
	}
	if i, j := strings.Index(second, "RESET MASTER;"), strings.Index(second, "mysqldump"); i < 0 || j < i {
		t.Errorf("reseed script does not forget the diverged history before the dump:\n%s", second)
	}
	if strings.Contains(second, "gtid_binlog_pos;\nCHANGE MASTER") {
		t.Errorf("reseed script starts from the diverged position:\n%s", second)
	}

	// Without seed, a diverged history is an error that says so.
	r = replication(t, map[string]cty.Value{"seed": cty.False})
	r.Check(replProbe(mariaVersion, "", "read_only=ON", "gtid_pos=", "binlog_pos=0-1-60", "database=foobar"))
	err = r.Apply(context.Background(), &recorder{results: []transport.Result{{ExitCode: exitDiverge}}})
	if err == nil || !strings.Contains(err.Error(), "histories diverged") {
		t.Errorf("diverged without seed: %v", err)
	}

	// A replica that lost its copy (no database) is seeded, as before.
	r = replication(t, nil)
	r.Check(replProbe(mariaVersion, "", "read_only=ON", "gtid_pos=", "binlog_pos=0-1-60"))
	if !r.doSeed || r.rejoin {
		t.Errorf("a replica without data: seed %v, rejoin %v", r.doSeed, r.rejoin)
	}
}
