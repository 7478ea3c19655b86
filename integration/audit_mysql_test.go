package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// TestMySQLRefusesCleartext deploys the smallest site with a primary, a
// replica and one web host as the roles stood before MySQL was hardened
// (integration/testdata/mysql-before-hardening: no REQUIRE on the
// accounts, no require_secure_transport), with data in it; then one apply
// of the current site playbook must reach the hardened state without
// breaking replication: a cleartext connection with the right password is
// refused, the app and replication still work over TLS, local_infile is
// off, skip_name_resolve on, a replica seeds again over TLS, and the next
// apply changes nothing.
func TestMySQLRefusesCleartext(t *testing.T) {
	groups := map[string][]string{"web1": {"lb", "web"}, "db1": {"db_primary"}, "db2": {"db_replica"}}
	c := startCluster(t, []string{"web1", "db1", "db2"}, nil)
	root, _ := testhosts.RepoRoot()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	site, err := c.SiteSettings(ctx, root, filepath.Join(dir, "site"), "")
	if err != nil {
		t.Fatalf("site settings: %v", err)
	}
	s := &stackSite{c: c, inv: filepath.Join(dir, "inventory.hcl"), secrets: map[string]string{}, addr: map[string]string{}}
	if err := c.WriteInventory(s.inv, groups, site); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mysql_replication_password", "app_db_password"} {
		b, err := os.ReadFile(filepath.Join(dir, "site", "secrets", name))
		if err != nil {
			t.Fatal(err)
		}
		s.secrets[name] = strings.TrimSpace(string(b))
	}
	for _, h := range c.Hosts {
		s.addr[h.Name] = h.Address
	}

	// The roles as they were: today's, with the three MySQL files of before.
	old := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "roles"), filepath.Join(root, "playbooks"), old).CombinedOutput(); err != nil {
		t.Fatalf("copying roles: %v %s", err, out)
	}
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "integration", "testdata", "mysql-before-hardening")+"/.", filepath.Join(old, "roles")).CombinedOutput(); err != nil {
		t.Fatalf("copying the old MySQL roles: %v %s", err, out)
	}
	r := skiff(t, "apply", "-i", s.inv, filepath.Join(old, "playbooks", "site.hcl"), "--yes", "--output", "json")
	s.noSecrets(t, r)
	if r.code != 0 {
		t.Fatalf("deploying the site as before: exit %d\n%s", r.code, r.stderr)
	}

	installMySQLClient(t, s, "web1")
	if out, code := mysqlConnect(t, s, "web1", "foobar", s.secrets["app_db_password"], "db1", cleartextMySQL); code != 0 {
		t.Fatalf("before hardening, cleartext as foobar failed (the test would prove nothing): %s", out)
	}
	writeVisit := func(t *testing.T) string {
		t.Helper()
		out, code := hostExec(t, c, "web1", "curl -sS --fail --cacert /etc/foobar/db-ca.crt --resolve www.foobar.com:8443:127.0.0.1 https://www.foobar.com:8443/")
		m := visitNumber.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("the app on web1 does not answer (exit %d): %s", code, out)
		}
		return m[1]
	}
	onReplica := func(t *testing.T, id string) {
		t.Helper()
		eventually(t, 120*time.Second, "visit "+id+" on the replica", func() (bool, string) {
			got := s.sql(t, "db2", "SELECT COUNT(*) FROM foobar.visits WHERE id = "+id)
			return got == "1", got + "\n" + s.replicaStatus(t)
		})
	}
	onReplica(t, writeVisit(t))

	// One apply of today's roles hardens it.
	r = skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--output", "json")
	s.noSecrets(t, r)
	if r.code != 0 {
		t.Fatalf("hardening apply: exit %d\n%s", r.code, r.stderr)
	}
	var summaries []string
	for _, h := range r.json.Hosts {
		for _, ch := range h.Changes {
			summaries = append(summaries, h.Name+" "+ch.Task+": "+ch.Summary)
		}
	}
	all := strings.Join(summaries, "\n")
	t.Logf("hardening apply changed:\n%s", all)
	for _, want := range []string{
		"db1 mysql_user.app: foobar@" + s.addr["web1"] + ": REQUIRE SSL (now REQUIRE NONE)",
		"db1 mysql_user.replication: repl@" + s.addr["db2"] + ": REQUIRE SSL (now REQUIRE NONE)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the hardening apply does not say %q", want)
		}
	}

	auditMySQLTLS(t, s, "web1")

	t.Run("the app and replication work over TLS", func(t *testing.T) {
		onReplica(t, writeVisit(t))
		st := s.replicaStatus(t)
		for _, want := range []string{"Slave_IO_Running: Yes", "Slave_SQL_Running: Yes", "Master_SSL_Allowed: Yes", "Master_SSL_Verify_Server_Cert: Yes"} {
			if !strings.Contains(st, want) {
				t.Errorf("replica status lacks %q:\n%s", want, st)
			}
		}
		if got, want := s.sql(t, "db2", "SELECT COUNT(*) FROM foobar.visits"), s.sql(t, "db1", "SELECT COUNT(*) FROM foobar.visits"); got != want {
			t.Errorf("replica holds %s visits, primary %s", got, want)
		}
	})

	t.Run("a new replica seeds over TLS", func(t *testing.T) {
		// db2 forgets replication and its copy: skiff seeds it again, with
		// mysqldump as the replication account, from the hardened primary.
		s.sql(t, "db2", "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL gtid_slave_pos = ''; SET sql_log_bin = 0; DROP DATABASE foobar")
		r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--limit", "db2", "--output", "json")
		if r.code != 0 {
			t.Fatalf("reseeding: exit %d\n%s", r.code, r.stderr)
		}
		seeded := false
		for _, h := range r.json.Hosts {
			for _, ch := range h.Changes {
				seeded = seeded || strings.Contains(ch.Summary, "seeding from a consistent dump of the primary")
			}
		}
		if !seeded {
			t.Errorf("the apply did not seed db2:\n%s", r.stderr)
		}
		if got, want := s.sql(t, "db2", "SELECT COUNT(*) FROM foobar.visits"), s.sql(t, "db1", "SELECT COUNT(*) FROM foobar.visits"); got != want {
			t.Errorf("reseeded replica holds %s visits, primary %s", got, want)
		}
		onReplica(t, writeVisit(t))
	})

	t.Run("the next apply changes nothing", func(t *testing.T) {
		r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--output", "json")
		if r.code != 0 || r.json.Summary.Changed != 0 {
			for _, h := range r.json.Hosts {
				for _, ch := range h.Changes {
					t.Logf("%s changed %s/%s %s: %s", h.Name, ch.Play, ch.Role, ch.Task, ch.Summary)
				}
			}
			t.Fatalf("rerun: exit %d, summary %+v", r.code, r.json.Summary)
		}
		if st := s.replicaStatus(t); !strings.Contains(st, "Slave_IO_Running: Yes") || !strings.Contains(st, "Slave_SQL_Running: Yes") {
			t.Errorf("replication stopped:\n%s", st)
		}
	})
}

// The mysql client's options for a connection in clear and for one over TLS
// that verifies the server against skiff's CA.
const (
	cleartextMySQL = "--skip-ssl"
	verifiedMySQL  = "--ssl --ssl-ca=/etc/foobar/db-ca.crt --ssl-verify-server-cert"
)

// installMySQLClient installs the auditor's client on a host from the
// image's package cache.
func installMySQLClient(t *testing.T, s *stackSite, host string) {
	t.Helper()
	if out, code := hostExec(t, s.c, host, "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mariadb-client >/dev/null 2>&1 && command -v mysql"); code != 0 {
		t.Fatalf("installing the mysql client on %s: %s", host, out)
	}
}

// mysqlConnect runs SELECT 1 as user on db from a host, the password in the
// client's environment; tls is the client's TLS options.
func mysqlConnect(t *testing.T, s *stackSite, from, user, password, db, tls string) (string, int) {
	t.Helper()
	return hostExec(t, s.c, from, "MYSQL_PWD="+shellQuote(password)+" mysql "+tls+" --protocol=tcp -h "+s.addr[db]+" -u "+user+" -N -B -e 'SELECT 1' 2>&1")
}

// auditMySQLTLS checks a deployed site's databases (db1 the primary, db2 its
// replica; the app on web): a cleartext connection with the right password
// is refused, for the site's accounts and for any other; TLS verified against
// skiff's CA gets in; the servers run with require_secure_transport on,
// local_infile off and skip_name_resolve on.
func auditMySQLTLS(t *testing.T, s *stackSite, web string) {
	t.Helper()
	installMySQLClient(t, s, web)
	t.Run("cleartext with the right password is refused", func(t *testing.T) {
		// The accounts REQUIRE SSL and the servers require secure
		// transport: without TLS the server refuses, with the right
		// password. MariaDB 10.11 answers "Access denied" (1045);
		// MariaDB 11.8, checking the transport first, "insecure
		// transport are prohibited" (3159).
		refused := func(out string) bool {
			return strings.Contains(out, "ERROR 1045") || strings.Contains(out, "ERROR 3159")
		}
		for _, db := range []string{"db1", "db2"} {
			out, code := mysqlConnect(t, s, web, "foobar", s.secrets["app_db_password"], db, cleartextMySQL)
			if code == 0 || !refused(out) {
				t.Errorf("cleartext to %s as foobar: exit %d: %s", db, code, out)
			}
			if out, code := mysqlConnect(t, s, web, "foobar", s.secrets["app_db_password"], db, verifiedMySQL); code != 0 || strings.TrimSpace(out) != "1" {
				t.Errorf("verified TLS to %s as foobar: exit %d: %s", db, code, out)
			}
		}
		out, code := mysqlConnect(t, s, "db2", "repl", s.secrets["mysql_replication_password"], "db1", cleartextMySQL)
		if code == 0 || !refused(out) {
			t.Errorf("cleartext to db1 as repl: exit %d: %s", code, out)
		}
		// And the servers refuse cleartext whatever the account: one
		// made here without REQUIRE (on each server alone) is refused
		// without TLS and gets in with it.
		const pw = "cleartext-probe-5f3a"
		for _, db := range []string{"db1", "db2"} {
			acc := "'audit'@'" + s.addr[web] + "'"
			s.sql(t, db, "SET sql_log_bin = 0; CREATE USER "+acc+" IDENTIFIED BY '"+pw+"'")
			out, code := mysqlConnect(t, s, web, "audit", pw, db, cleartextMySQL)
			if code == 0 || !refused(out) {
				t.Errorf("cleartext to %s as an account without REQUIRE: exit %d: %s", db, code, out)
			}
			if out, code := mysqlConnect(t, s, web, "audit", pw, db, verifiedMySQL); code != 0 {
				t.Errorf("verified TLS to %s as an account without REQUIRE: exit %d: %s", db, code, out)
			}
			s.sql(t, db, "SET sql_log_bin = 0; DROP USER "+acc)
		}
		// The accounts as a user would list them.
		for _, db := range []string{"db1", "db2"} {
			got := s.sql(t, db, "SELECT CONCAT(User, '@', Host, ' ', ssl_type) FROM mysql.user WHERE User IN ('foobar', 'repl') ORDER BY 1")
			for _, line := range strings.Split(got, "\n") {
				if !strings.HasSuffix(line, " ANY") {
					t.Errorf("%s: account %q does not REQUIRE SSL", db, line)
				}
			}
			if !strings.Contains(got, "foobar@"+s.addr[web]+" ANY") {
				t.Errorf("%s: accounts:\n%s", db, got)
			}
		}
	})
	t.Run("server settings", func(t *testing.T) {
		for _, db := range []string{"db1", "db2"} {
			got := s.sql(t, db, "SELECT CONCAT_WS(' ', @@global.require_secure_transport, @@global.local_infile, @@global.skip_name_resolve)")
			if got != "ON OFF ON" {
				t.Errorf("%s: require_secure_transport, local_infile, skip_name_resolve = %s, want ON OFF ON", db, got)
			}
		}
	})
}
