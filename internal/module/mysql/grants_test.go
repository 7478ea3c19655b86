package mysql

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseShowGrantsMariaDB(t *testing.T) {
	b, err := os.ReadFile("testdata/show-grants-mariadb.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		g, ok, err := parseGrantLine(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if !ok {
			got = append(got, "skip")
			continue
		}
		got = append(got, g.user+"@"+g.host+" "+g.obj.String()+" "+strings.Join(g.privs, ","))
	}
	want := []string{
		"app@10.0.0.5 *.* ALL PRIVILEGES",
		"app@10.0.0.5 foobar.* ALL PRIVILEGES",
		`app@10.0.0.5 foo\_bar.* SELECT,INSERT`,
		"repl@% *.* SELECT,RELOAD,LOCK TABLES,REPLICATION SLAVE,BINLOG MONITOR,SHOW VIEW,EVENT,TRIGGER,SLAVE MONITOR",
		"r2@% *.* REPLICATION SLAVE,BINLOG MONITOR",
		"r2@% `foo``bar`.* ALL PRIVILEGES",
		"r2@% mysql.user INSERT,GRANT OPTION", // the column privilege is left out
		"skip",                                // routine
		"root@localhost *.* ALL PRIVILEGES,GRANT OPTION",
		"skip", // PROXY
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseShowGrantsMySQL8(t *testing.T) {
	for line, want := range map[string]string{
		"GRANT USAGE ON *.* TO `app`@`10.0.0.5`":                                     "app@10.0.0.5 *.* ",
		"GRANT ALL PRIVILEGES ON `foobar`.* TO `app`@`10.0.0.5`":                     "app@10.0.0.5 foobar.* ALL PRIVILEGES",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `repl`@`%`":           "repl@% *.* REPLICATION SLAVE,REPLICATION CLIENT",
		"GRANT SELECT ON `db`.`t` TO 'old'@'localhost' WITH GRANT OPTION":            "old@localhost db.t SELECT,GRANT OPTION",
		"GRANT SELECT ON `db`.* TO `u`@`h` REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 10": "u@h db.* SELECT",
	} {
		g, ok, err := parseGrantLine(line)
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", line, ok, err)
		}
		if got := g.user + "@" + g.host + " " + g.obj.String() + " " + strings.Join(g.privs, ","); got != want {
			t.Errorf("%s:\n got %s\nwant %s", line, got, want)
		}
	}
	for _, bad := range []string{"GRANT SELECT ON `db TO `u`@`h`", "GRANT SELECT ON db TO u@h"} {
		if _, _, err := parseGrantLine(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, ok, _ := parseGrantLine("GRANT `admin`@`%` TO `u`@`h`"); ok {
		t.Errorf("role grant read as privileges")
	}
}

func TestParseDeclared(t *testing.T) {
	for in, want := range map[string]string{
		"foobar.*:ALL": "foobar.* ALL PRIVILEGES",
		"*.*:replication slave, Replication  Client":   "*.* REPLICATION SLAVE,REPLICATION CLIENT",
		"`my-db`.`t`:SELECT,USAGE":                     "my-db.t SELECT",
		"app.orders:SELECT,INSERT,GRANT OPTION,SELECT": "app.orders SELECT,INSERT,GRANT OPTION",
	} {
		g, err := parseDeclared(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := g.obj.String() + " " + strings.Join(g.privs, ","); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"foobar:ALL", "foobar.*", "*.t:SELECT", "db.*:SELECT (col)", "db.* x:ALL", "`db.*:ALL"} {
		if _, err := parseDeclared(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCanon(t *testing.T) {
	maria := server{state: "up", version: mariaVersion}
	old := server{state: "up", version: "10.3.39-MariaDB"}
	my := server{state: "up", version: "8.0.36"}
	if maria.canon("REPLICATION CLIENT") != "BINLOG MONITOR" || maria.canon("REPLICA MONITOR") != "SLAVE MONITOR" || maria.canon("REPLICATION REPLICA") != "REPLICATION SLAVE" {
		t.Errorf("MariaDB 10.11 aliases")
	}
	if old.canon("REPLICATION CLIENT") != "REPLICATION CLIENT" || my.canon("REPLICATION CLIENT") != "REPLICATION CLIENT" {
		t.Errorf("aliases applied where they do not exist")
	}
}

func grantsOf(entries ...string) grantMap {
	g := grantMap{}
	for _, e := range entries {
		d, err := parseDeclared(e)
		if err != nil {
			panic(err)
		}
		g.add(d.obj, d.privs...)
	}
	return g
}

func TestDiffGrants(t *testing.T) {
	acct := "'u'@'h'"
	for _, tc := range []struct {
		have, want []string
		stmts      []string
	}{
		{nil, []string{"foobar.*:ALL"}, []string{"GRANT ALL PRIVILEGES ON `foobar`.* TO 'u'@'h';"}},
		{[]string{"foobar.*:ALL"}, []string{"foobar.*:ALL"}, nil},
		{[]string{"foobar.*:SELECT,INSERT"}, []string{"foobar.*:ALL"}, []string{"GRANT ALL PRIVILEGES ON `foobar`.* TO 'u'@'h';"}},
		{[]string{"foobar.*:ALL"}, []string{"foobar.*:SELECT"}, []string{"REVOKE ALL PRIVILEGES ON `foobar`.* FROM 'u'@'h';", "GRANT SELECT ON `foobar`.* TO 'u'@'h';"}},
		{[]string{"foobar.*:SELECT,DELETE", "old.*:ALL"}, []string{"foobar.*:SELECT,INSERT"},
			[]string{"REVOKE DELETE ON `foobar`.* FROM 'u'@'h';", "REVOKE ALL PRIVILEGES ON `old`.* FROM 'u'@'h';", "GRANT INSERT ON `foobar`.* TO 'u'@'h';"}},
		{[]string{"db.*:SELECT"}, []string{"db.*:SELECT,GRANT OPTION"}, []string{"GRANT USAGE ON `db`.* TO 'u'@'h' WITH GRANT OPTION;"}},
		{[]string{"db.*:SELECT,GRANT OPTION"}, []string{"db.*:SELECT"}, []string{"REVOKE GRANT OPTION ON `db`.* FROM 'u'@'h';"}},
		{[]string{"db.*:ALL,GRANT OPTION"}, []string{"db.*:ALL,GRANT OPTION"}, nil},
	} {
		ops := diffGrants(grantsOf(tc.have...), grantsOf(tc.want...), acct)
		got := slices.Concat(ops.revokes, ops.grants)
		if strings.Join(got, "\n") != strings.Join(tc.stmts, "\n") {
			t.Errorf("%v -> %v:\n got %q\nwant %q", tc.have, tc.want, got, tc.stmts)
		}
		if len(ops.text) == 0 != (len(tc.stmts) == 0) {
			t.Errorf("%v -> %v: text %q", tc.have, tc.want, ops.text)
		}
	}
}
