package mysql

import (
	"context"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport"
)

func writer(t *testing.T, extra map[string]cty.Value) *Writer {
	t.Helper()
	vals := map[string]cty.Value{
		"peers":    cty.MapVal(map[string]cty.Value{"db2": cty.StringVal("10.0.0.4")}),
		"user":     cty.StringVal("repl"),
		"password": secret.Wrap(cty.StringVal(replPassword)),
		"tls_ca":   cty.StringVal("/etc/mysql/tls/ca.crt"),
	}
	for k, v := range extra {
		if v.IsNull() {
			delete(vals, k)
			continue
		}
		vals[k] = v
	}
	return moduletest.MustBuild(t, NewWriter, moduletest.Args("mysql_writer", "w", vals)).(*Writer)
}

// writerProbe is the probe output: SHOW SLAVE STATUS\G text, the vars,
// then the peers' lines.
func writerProbe(status string, vars []string, peers ...string) module.Probed {
	return probed(mariaVersion, "[status]\n"+status+"[vars]\n"+strings.Join(vars, "\n")+"\n[end]\n[peers]\n"+strings.Join(peers, "\n")+"\n")
}

func replicatingFrom(host string) string {
	return "*************************** 1. row ***************************\n" +
		"                Master_Host: " + host + "\n                Master_User: repl\n                Master_Port: 3306\n" +
		"           Slave_IO_Running: Yes\n          Slave_SQL_Running: Yes\n                 Using_Gtid: Slave_pos\n"
}

func TestWriterCheck(t *testing.T) {
	writable := []string{"read_only=0", "semi_sync_primary=1", "binlog_pos=0-1-40"}
	readOnly := []string{"read_only=1", "semi_sync_primary=0", "binlog_pos=0-1-40"}
	for _, tc := range []struct {
		name    string
		extra   map[string]cty.Value
		probe   module.Probed
		summary string // "" for no change
		err     string
	}{
		{"the writer", nil, writerProbe("", writable, "peer db2 read_only=1"), "", ""},
		{"a peer that does not answer is not held against it", nil, writerProbe("", writable, "peer db2 error=ERROR 2002 (HY000): Can't connect"), "", ""},
		{"fenced at start", nil, writerProbe("", readOnly, "peer db2 read_only=1"),
			"semi-sync primary side OFF -> ON; take writes: read_only ON -> OFF", ""},
		{"the writer moved to a peer", nil, writerProbe("", readOnly, "peer db2 read_only=0"),
			"", "db2 (10.0.0.4) is writable: the writer is there (after a switchover or failover), not here. Edit the inventory: put db2 in db_primary and this host in db_replica"},
		{"this host replicates from a peer", nil, writerProbe(replicatingFrom("10.0.0.4"), readOnly, "peer db2 error=ERROR 2002"),
			"", "this server replicates from db2 (10.0.0.4): it is a replica, not the writer. Edit the inventory: put db2 in db_primary"},
		{"switchover: promote from a primary still writable at plan time",
			map[string]cty.Value{"promote_from": cty.StringVal("10.0.0.4"), "inventory_edit": cty.StringVal("move db1 to db_primary and db2 to db_replica")},
			writerProbe(replicatingFrom("10.0.0.4"), readOnly, "peer db2 read_only=0"),
			"promote to writer: stop replicating from 10.0.0.4 once it has applied 10.0.0.4's GTID position (10.0.0.4 read-only by then), semi-sync primary side ON, read_only ON -> OFF; then edit the inventory: move db1 to db_primary and db2 to db_replica", ""},
		{"failover: a primary that answers writable is not failed over",
			map[string]cty.Value{"promote_from": cty.StringVal("10.0.0.4"), "catch_up": cty.StringVal("received")},
			writerProbe(replicatingFrom("10.0.0.4"), readOnly, "peer db2 read_only=0"),
			"", "db2 (10.0.0.4) is writable"},
		{"failover: the primary is gone",
			map[string]cty.Value{"promote_from": cty.StringVal("10.0.0.4"), "catch_up": cty.StringVal("received")},
			writerProbe(replicatingFrom("10.0.0.4"), readOnly, "peer db2 error=ERROR 2003 (HY000): Can't connect to server on '10.0.0.4' (113)"),
			"promote to writer: stop replicating from 10.0.0.4 once it has applied all it received from 10.0.0.4", ""},
		{"demote", map[string]cty.Value{"writable": cty.False, "peers": cty.NullVal(cty.Map(cty.String))}, writerProbe("", writable),
			"stop writes: read_only OFF -> ON (commits under way finish first); semi-sync primary side ON -> OFF", ""},
		{"demoted", map[string]cty.Value{"writable": cty.False, "peers": cty.NullVal(cty.Map(cty.String))}, writerProbe("", readOnly), "", ""},
		{"server down", nil, downProbe, "take writes: read_only OFF, semi-sync primary side ON (server not running yet)", ""},
	} {
		w := writer(t, tc.extra)
		ch, err := w.Check(tc.probe)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
			continue
		case tc.summary == "":
			if ch != nil {
				t.Errorf("%s: unexpected change %+v", tc.name, ch)
			}
			continue
		}
		if ch == nil || !strings.HasPrefix(ch.Summary, tc.summary) {
			t.Errorf("%s: change %+v\nwant %q", tc.name, ch, tc.summary)
		}
		moduletest.NoSecret(t, replPassword, ch, nil)
	}
}

func TestWriterScripts(t *testing.T) {
	order := func(t *testing.T, script string, want ...string) {
		t.Helper()
		last := -1
		for _, w := range want {
			i := strings.Index(script, w)
			if i < 0 || i < last {
				t.Fatalf("script lacks %q (or out of order):\n%s", w, script)
			}
			last = i
		}
	}
	run := func(w *Writer, p module.Probed, withPassword bool) string {
		t.Helper()
		if _, err := w.Check(p); err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		if err := w.Apply(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		shParses(t, rec.scripts[0])
		if withPassword {
			assertSecretOnlyInHeredocs(t, rec.scripts, replPassword, cnfEscaper.Replace(replPassword))
		} else if strings.Contains(rec.scripts[0], cnfEscaper.Replace(replPassword)) {
			t.Errorf("the password is in a script that needs none:\n%s", rec.scripts[0])
		}
		return rec.scripts[0]
	}
	readOnly := []string{"read_only=1", "semi_sync_primary=0"}

	// A switchover: the primary must be read-only, its position applied here.
	s := run(writer(t, map[string]cty.Value{"promote_from": cty.StringVal("10.0.0.4")}), writerProbe(replicatingFrom("10.0.0.4"), readOnly, "peer db2 read_only=0"), true)
	order(t, s, "umask 077", "ssl-verify-server-cert", "-h '10.0.0.4' -P 3306 -u 'repl'", "SELECT @@global.read_only, @@global.gtid_binlog_pos",
		"case $ro in 0|OFF)", "exit 31", "SELECT MASTER_GTID_WAIT('$pos', 30);", "exit 32",
		"STOP SLAVE;\nRESET SLAVE ALL;\nSET GLOBAL rpl_semi_sync_master_enabled = ON;\nSET GLOBAL read_only = OFF;")

	// A failover: what was received is applied first.
	s = run(writer(t, map[string]cty.Value{"promote_from": cty.StringVal("10.0.0.4"), "catch_up": cty.StringVal("received")}),
		writerProbe(replicatingFrom("10.0.0.4"), readOnly, "peer db2 error=ERROR 2003"), false)
	order(t, s, "STOP SLAVE IO_THREAD;", "Gtid_IO_Pos", "MASTER_GTID_WAIT('$pos', 30)", "RESET SLAVE ALL;", "SET GLOBAL read_only = OFF;")

	// Demote: read_only first, so that commits under way keep semi-sync.
	s = run(writer(t, map[string]cty.Value{"writable": cty.False, "peers": cty.NullVal(cty.Map(cty.String))}),
		writerProbe("", []string{"read_only=OFF", "semi_sync_primary=ON"}), false)
	order(t, s, "SET GLOBAL read_only = ON;", "SET GLOBAL rpl_semi_sync_master_enabled = OFF;")
	if strings.Contains(s, "RESET SLAVE") {
		t.Errorf("demote resets replication:\n%s", s)
	}

	// The promotion's failures say what happened.
	w := writer(t, map[string]cty.Value{"promote_from": cty.StringVal("10.0.0.4")})
	w.Check(writerProbe(replicatingFrom("10.0.0.4"), readOnly))
	err := w.Apply(context.Background(), &recorder{results: []transport.Result{{ExitCode: exitPrimaryWritable}}})
	if err == nil || !strings.Contains(err.Error(), "10.0.0.4 still takes writes") {
		t.Errorf("primary still writable: %v", err)
	}
}

func TestWriterArgs(t *testing.T) {
	_, diags := moduletest.Build(NewWriter, moduletest.Args("mysql_writer", "w", map[string]cty.Value{
		"peers": cty.MapVal(map[string]cty.Value{"db2": cty.StringVal("10.0.0.4")}),
	}))
	if !strings.Contains(diags.Error(), "need user and password") {
		t.Errorf("peers without an account: %v", diags)
	}
	_, diags = moduletest.Build(NewWriter, moduletest.Args("mysql_writer", "w", map[string]cty.Value{
		"peers": cty.MapVal(map[string]cty.Value{"db2": cty.StringVal("$(id)")}), "user": cty.StringVal("repl"), "password": cty.StringVal("x"),
	}))
	if !strings.Contains(diags.Error(), "is not one") {
		t.Errorf("a peer address that is not one: %v", diags)
	}
}

// A switchover stops writes only while the replica it hands over to is
// connected: otherwise the site would be left without a writer.
func TestWriterHandover(t *testing.T) {
	w := writer(t, map[string]cty.Value{"writable": cty.False, "peers": cty.NullVal(cty.Map(cty.String)), "handover_to": cty.StringVal("10.0.0.4")})
	_, err := w.Check(writerProbe("", []string{"read_only=0", "semi_sync_primary=1", "replica_from=10.0.0.5"}))
	if err == nil || !strings.Contains(err.Error(), "10.0.0.4 does not replicate from this server (no replication connection from it; connected: 10.0.0.5)") {
		t.Errorf("replica not connected: %v", err)
	}
	ch, err := w.Check(writerProbe("", []string{"read_only=0", "semi_sync_primary=1", "replica_from=10.0.0.4"}))
	if err != nil || ch == nil || !strings.HasPrefix(ch.Summary, "stop writes") {
		t.Errorf("replica connected: %+v %v", ch, err)
	}
}

// A failover drains every replica first: it stops receiving from the lost
// primary and applies what it received.
func TestWriterDrain(t *testing.T) {
	drain := map[string]cty.Value{"writable": cty.False, "peers": cty.NullVal(cty.Map(cty.String)), "drain_from": cty.StringVal("10.0.0.3")}
	ro := []string{"read_only=1", "semi_sync_primary=0", "gtid_pos=0-1-99"}
	w := writer(t, drain)
	ch, err := w.Check(writerProbe(replicatingFrom("10.0.0.3")+"                Gtid_IO_Pos: 0-1-100\n", ro))
	if err != nil || ch == nil || ch.Summary != "stop receiving from 10.0.0.3 and apply what was received (received up to 0-1-100, applied up to 0-1-99)" {
		t.Fatalf("drain: %+v %v", ch, err)
	}
	rec := &recorder{}
	if err := w.Apply(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	shParses(t, rec.scripts[0])
	if s := rec.scripts[0]; !strings.Contains(s, "STOP SLAVE IO_THREAD;") || !strings.Contains(s, "MASTER_GTID_WAIT('$pos', 30)") || strings.Contains(s, "RESET SLAVE") {
		t.Errorf("drain script:\n%s", s)
	}
	drained := strings.Replace(replicatingFrom("10.0.0.3"), "Slave_IO_Running: Yes", "Slave_IO_Running: No", 1) + "                Gtid_IO_Pos: 0-1-99\n"
	if ch, err := writer(t, drain).Check(writerProbe(drained, ro)); ch != nil || err != nil {
		t.Errorf("drained: %+v %v", ch, err)
	}
}

// Without `to`, the replica that applied the most transactions (ties: the
// first by name) is promoted, and the others replicate from it.
func TestWriterRivals(t *testing.T) {
	rivals := func(self string) map[string]cty.Value {
		other := map[string]string{"db2": "db3", "db3": "db2"}[self]
		addr := map[string]string{"db2": "10.0.0.4", "db3": "10.0.0.5"}
		return map[string]cty.Value{
			"promote_from": cty.StringVal("10.0.0.3"), "catch_up": cty.StringVal("received"), "name": cty.StringVal(self),
			"rivals": cty.ListVal([]cty.Value{cty.StringVal(other)}),
			"peers":  cty.MapVal(map[string]cty.Value{"db1": cty.StringVal("10.0.0.3"), other: cty.StringVal(addr[other])}),
		}
	}
	probe := func(own, rivalName, rivalLine string) module.Probed {
		return writerProbe(replicatingFrom("10.0.0.3"), []string{"read_only=1", "semi_sync_primary=0", "gtid_pos=" + own},
			"peer db1 error=ERROR 2003 (HY000): Can't connect", "peer "+rivalName+" "+rivalLine)
	}
	w := writer(t, rivals("db2"))
	ch, err := w.Check(probe("0-1-100", "db3", "read_only=1\t0-1-99"))
	if err != nil || ch == nil || !w.promote || !strings.Contains(ch.Summary, "(db2 holds the most transactions (db2 100, db3 99))") {
		t.Errorf("db2 holds more: %+v %v", ch, err)
	}
	w = writer(t, rivals("db3"))
	ch, err = w.Check(probe("0-1-99", "db2", "read_only=1\t0-1-100"))
	if err != nil || ch == nil || w.promote || w.repoint != "10.0.0.4" || !strings.HasPrefix(ch.Summary, "replicate from db2 (10.0.0.4), the new writer: db2 holds the most transactions") {
		t.Fatalf("db3 holds less: %+v %v", ch, err)
	}
	rec := &recorder{}
	if err := w.Apply(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	shParses(t, rec.scripts[0])
	assertSecretOnlyInHeredocs(t, rec.scripts, replPassword, sqlEscaper.Replace(replPassword))
	if s := rec.scripts[0]; !strings.Contains(s, "CHANGE MASTER TO MASTER_HOST = '10.0.0.4', MASTER_PORT = 3306, MASTER_USER = 'repl'") ||
		!strings.Contains(s, "MASTER_SSL_VERIFY_SERVER_CERT = 1") || strings.Contains(s, "mysqldump") || strings.Contains(s, "RESET SLAVE") {
		t.Errorf("re-point script:\n%s", s)
	}
	// A tie goes to the first by name.
	if w := writer(t, rivals("db3")); func() bool { w.Check(probe("0-1-100", "db2", "read_only=1\t0-1-100")); return w.promote }() {
		t.Errorf("db3 promoted on a tie with db2")
	}
	if w := writer(t, rivals("db2")); func() bool { w.Check(probe("0-1-100", "db3", "read_only=1\t0-1-100")); return !w.promote }() {
		t.Errorf("db2 not promoted on a tie with db3")
	}
	// A rival already promoted is followed; one that does not answer stops the choice.
	if ch, err := writer(t, rivals("db3")).Check(probe("0-1-99", "db2", "read_only=0\t0-1-100")); err != nil || ch == nil || !strings.HasPrefix(ch.Summary, "replicate from db2 (10.0.0.4), the new writer") {
		t.Errorf("rival promoted: %+v %v", ch, err)
	}
	if _, err := writer(t, rivals("db2")).Check(probe("0-1-100", "db3", "error=ERROR 2003 (HY000): Can't connect")); err == nil || !strings.Contains(err.Error(), "db3 does not answer") {
		t.Errorf("rival silent: %v", err)
	}
}
