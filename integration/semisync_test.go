package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// TestSemiSyncAndWriterFollowing deploys the smallest site (web1 as lb and
// web, db1 the primary, db2 the replica) as it stood before semi-synchronous
// replication (integration/testdata/mysql-before-semisync), with data; one
// apply of today's site playbook must turn semi-sync on without losing
// replication or data, and the next apply changes nothing. Writes posted
// through HAProxy come back with ids that GET /visits/N answers and that
// reach the replica, acknowledged by it (the primary's semi-sync counters).
// Then the writer is moved by hand in MariaDB (db1 read-only, db2 writable,
// db1 replicating from db2: a promotion as a failover tool would do it), and
// the running app writes to db2 within seconds, without a restart.
func TestSemiSyncAndWriterFollowing(t *testing.T) { testSemiSync(t, testhosts.Bookworm) }

// TestSemiSyncOnTrixie is the same on Debian 13 (MariaDB 11.8).
func TestSemiSyncOnTrixie(t *testing.T) { testSemiSync(t, testhosts.Trixie) }

func testSemiSync(t *testing.T, suite string) {
	if testing.Short() {
		t.Skip("integration test: needs Docker")
	}
	groups := map[string][]string{"web1": {"lb", "web"}, "db1": {"db_primary"}, "db2": {"db_replica"}}
	c := startSuiteCluster(t, suite, []string{"web1", "db1", "db2"})
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
	s.ca = filepath.Join(dir, ".skiff", "pki", "ca.crt")

	// The site as it was: today's roles with the MariaDB settings of before.
	old := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "roles"), filepath.Join(root, "playbooks"), old).CombinedOutput(); err != nil {
		t.Fatalf("copying roles: %v %s", err, out)
	}
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "integration", "testdata", "mysql-before-semisync")+"/.", filepath.Join(old, "roles")).CombinedOutput(); err != nil {
		t.Fatalf("copying the old MySQL roles: %v %s", err, out)
	}
	r := skiff(t, "apply", "-i", s.inv, filepath.Join(old, "playbooks", "site.hcl"), "--yes", "--output", "json")
	s.noSecrets(t, r)
	if r.code != 0 {
		t.Fatalf("deploying the site as before: exit %d\n%s", r.code, r.stderr)
	}
	if got := s.sql(t, "db1", "SELECT @@global.rpl_semi_sync_master_enabled"); got != "0" {
		t.Fatalf("before: semi-sync is already on on db1 (%s): the test would prove nothing", got)
	}
	web := newSiteClient(t, s, "web1")
	var before []int64
	for range 5 {
		before = append(before, web.post(t))
	}

	// One apply of today's roles.
	r = skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--output", "json")
	s.noSecrets(t, r)
	if r.code != 0 || r.json.Summary.Failed+r.json.Summary.Unreachable != 0 {
		t.Fatalf("semi-sync apply: exit %d, summary %+v\n%s", r.code, r.json.Summary, r.stderr)
	}
	for _, h := range r.json.Hosts {
		for _, ch := range h.Changes {
			t.Logf("semi-sync apply: %s %s/%s: %s", h.Name, ch.Role, ch.Task, ch.Summary)
		}
	}
	status := func(host, name string) string {
		return s.sql(t, host, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = '"+name+"'")
	}
	counter := func(host, name string) int {
		n, err := strconv.Atoi(status(host, name))
		if err != nil {
			t.Fatalf("%s: %s: %v", host, name, err)
		}
		return n
	}

	var acked []int64
	t.Run("semi-sync is on and in use", func(t *testing.T) {
		for _, v := range []struct{ host, name, want string }{
			{"db1", "rpl_semi_sync_master_enabled", "1"},
			{"db1", "rpl_semi_sync_master_timeout", "2000"},
			{"db1", "rpl_semi_sync_master_wait_point", "AFTER_SYNC"},
			{"db2", "rpl_semi_sync_slave_enabled", "1"},
			{"db2", "rpl_semi_sync_master_enabled", "0"},
		} {
			if got := s.sql(t, v.host, "SELECT @@global."+v.name); got != v.want {
				t.Errorf("%s: %s = %s, want %s", v.host, v.name, got, v.want)
			}
		}
		if got := status("db2", "Rpl_semi_sync_slave_status"); got != "ON" {
			t.Errorf("db2: Rpl_semi_sync_slave_status = %s, want ON\n%s", got, s.replicaStatus(t))
		}
		if n := counter("db1", "Rpl_semi_sync_master_clients"); n < 1 {
			t.Errorf("db1: Rpl_semi_sync_master_clients = %d, want at least 1", n)
		}
		yes, no := counter("db1", "Rpl_semi_sync_master_yes_tx"), counter("db1", "Rpl_semi_sync_master_no_tx")
		for range 20 {
			acked = append(acked, web.post(t))
		}
		if got := status("db1", "Rpl_semi_sync_master_status"); got != "ON" {
			t.Errorf("db1: Rpl_semi_sync_master_status = %s, want ON", got)
		}
		yes2, no2 := counter("db1", "Rpl_semi_sync_master_yes_tx"), counter("db1", "Rpl_semi_sync_master_no_tx")
		t.Logf("db1: 20 posts: %d transactions acknowledged by a replica, %d not", yes2-yes, no2-no)
		if yes2-yes < 20 || no2 != no {
			t.Errorf("db1: 20 posts: %d transactions acknowledged by a replica, %d without (want 20 and 0)", yes2-yes, no2-no)
		}
	})

	t.Run("posted visits are read back and reach the replica", func(t *testing.T) {
		all := append(append([]int64{}, before...), acked...)
		for _, id := range all {
			if v, code := web.get(t, id); code != http.StatusOK || v.ID != id {
				t.Errorf("GET /visits/%d: %d %+v", id, code, v)
			}
		}
		if _, code := web.get(t, 1<<40); code != http.StatusNotFound {
			t.Errorf("GET /visits/%d: %d, want 404", int64(1<<40), code)
		}
		ids := idList(all)
		eventually(t, 30*time.Second, "the posted visits on db2", func() (bool, string) {
			got := s.sql(t, "db2", "SELECT COUNT(*) FROM foobar.visits WHERE id IN ("+ids+")")
			return got == strconv.Itoa(len(all)), got + "\n" + s.replicaStatus(t)
		})
		if st := s.replicaStatus(t); !strings.Contains(st, "Slave_IO_Running: Yes") || !strings.Contains(st, "Slave_SQL_Running: Yes") || !strings.Contains(st, "Master_SSL_Verify_Server_Cert: Yes") {
			t.Errorf("replication on db2:\n%s", st)
		}
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
	})

	// What a semi-sync commit costs, through HAProxy, nginx and the app.
	t.Run("write latency", func(t *testing.T) {
		median := func() time.Duration {
			var ds []time.Duration
			for range 100 {
				start := time.Now()
				web.post(t)
				ds = append(ds, time.Since(start))
			}
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		semi := median()
		s.sql(t, "db1", "SET GLOBAL rpl_semi_sync_master_enabled = OFF")
		async := median()
		s.sql(t, "db1", "SET GLOBAL rpl_semi_sync_master_enabled = ON")
		t.Logf("POST /visits through HAProxy, median of 100: %v semi-synchronous, %v asynchronous", semi, async)
	})

	// What the README promises when no replica answers: the commit waits
	// the timeout (2 s), goes through, and the primary runs asynchronously
	// until the replica is back and caught up.
	t.Run("without a replica, writes wait once then go on asynchronously", func(t *testing.T) {
		s.sql(t, "db2", "STOP SLAVE")
		no := counter("db1", "Rpl_semi_sync_master_no_tx")
		sent := time.Now()
		ids := []int64{web.post(t)}
		waited := time.Since(sent)
		if waited < 1900*time.Millisecond {
			t.Errorf("the first write without a replica took %v, want the 2 s semi-sync timeout", waited)
		}
		for range 5 {
			ids = append(ids, web.post(t))
		}
		if got := status("db1", "Rpl_semi_sync_master_status"); got != "OFF" {
			t.Errorf("db1 without a replica: Rpl_semi_sync_master_status = %s, want OFF", got)
		}
		if n := counter("db1", "Rpl_semi_sync_master_no_tx") - no; n != len(ids) {
			t.Errorf("db1 without a replica: %d of %d writes not acknowledged, want all", n, len(ids))
		}
		t.Logf("without a replica: the first write took %v, then asynchronous", waited.Round(time.Millisecond))
		s.sql(t, "db2", "START SLAVE")
		eventually(t, 60*time.Second, "semi-sync back on once the replica caught up", func() (bool, string) {
			ids = append(ids, web.post(t))
			got := status("db1", "Rpl_semi_sync_master_status")
			return got == "ON", got
		})
		eventually(t, 30*time.Second, "the writes made without a replica on db2", func() (bool, string) {
			got := s.sql(t, "db2", "SELECT COUNT(*) FROM foobar.visits WHERE id IN ("+idList(ids)+")")
			return got == strconv.Itoa(len(ids)), got
		})
	})

	t.Run("the app follows a promotion without a restart", func(t *testing.T) {
		pid := func() string {
			out, _ := hostExec(t, c, "web1", "systemctl show -p MainPID --value foobar-app")
			return strings.TrimSpace(out)
		}
		pidBefore := pid()
		// The test's stand-in for a promotion tool, in the order a
		// switchover would go: db1 stops taking writes, db2 catches up,
		// db1 replicates from db2 (over verified TLS, semi-synchronously),
		// then db2 takes writes. db2 has the replication account that db1
		// uses (every db host has it, for the others).
		if got := s.sql(t, "db2", fmt.Sprintf("SELECT COUNT(*) FROM mysql.user WHERE User = 'repl' AND Host = '%s'", s.addr["db1"])); got != "1" {
			t.Fatalf("db2 has no replication account for db1 (%s)", got)
		}
		start := time.Now()
		s.sql(t, "db1", "SET GLOBAL read_only = ON")
		pos := s.sql(t, "db1", "SELECT @@global.gtid_binlog_pos")
		if got := s.sql(t, "db2", "SELECT MASTER_GTID_WAIT('"+pos+"', 30)"); got != "0" {
			t.Fatalf("db2 did not reach db1's position %s: %s", pos, got)
		}
		s.sql(t, "db2", "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL rpl_semi_sync_master_enabled = ON")
		s.sql(t, "db1", fmt.Sprintf("SET GLOBAL rpl_semi_sync_master_enabled = OFF; SET GLOBAL gtid_slave_pos = @@global.gtid_binlog_pos; "+
			"CHANGE MASTER TO MASTER_HOST = '%s', MASTER_USER = 'repl', MASTER_PASSWORD = '%s', MASTER_USE_GTID = slave_pos, "+
			"MASTER_SSL = 1, MASTER_SSL_CA = '/etc/mysql/tls/ca.crt', MASTER_SSL_VERIFY_SERVER_CERT = 1; START SLAVE",
			s.addr["db2"], s.secrets["mysql_replication_password"]))
		eventually(t, 30*time.Second, "db1 replicating from db2 semi-synchronously", func() (bool, string) {
			st, _ := hostExec(t, c, "db1", `mysql -e 'SHOW SLAVE STATUS\G'`)
			return counter("db2", "Rpl_semi_sync_master_clients") >= 1, st
		})
		yes := counter("db2", "Rpl_semi_sync_master_yes_tx")
		s.sql(t, "db2", "SET GLOBAL read_only = OFF")
		promoted := time.Since(start)
		// Posts every 100 ms until one is stored: within a few seconds.
		var id int64
		for tries := 0; ; tries++ {
			sent := time.Now()
			got, code, body := web.tryPost()
			if code == http.StatusCreated {
				id = got
				t.Logf("first write stored %v after db1 turned read-only (promotion steps %v; %d posts refused before; this one took %v)",
					time.Since(start).Round(time.Millisecond), promoted.Round(time.Millisecond), tries, time.Since(sent).Round(time.Millisecond))
				break
			}
			if time.Since(start) > 15*time.Second {
				t.Fatalf("no write stored within 15 s of the promotion; last: %d %s", code, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got := pid(); got != pidBefore {
			t.Errorf("the app restarted: MainPID %s, was %s", got, pidBefore)
		}
		// The write is db2's own (server id 2), and GET reads it back.
		if got := s.sql(t, "db2", "SELECT @@global.gtid_binlog_pos"); !strings.Contains(got, "-2-") {
			t.Errorf("db2's binary log holds no transaction of its own: %s", got)
		}
		if v, code := web.get(t, id); code != http.StatusOK || v.ID != id {
			t.Errorf("GET /visits/%d after the promotion: %d %+v", id, code, v)
		}
		var more []int64
		for range 5 {
			more = append(more, web.post(t))
		}
		more = append(more, id)
		eventually(t, 30*time.Second, "the new writer's visits on db1", func() (bool, string) {
			got := s.sql(t, "db1", "SELECT COUNT(*) FROM foobar.visits WHERE id IN ("+idList(more)+")")
			st, _ := hostExec(t, c, "db1", `mysql -e 'SHOW SLAVE STATUS\G'`)
			return got == strconv.Itoa(len(more)), got + "\n" + st
		})
		if n := counter("db2", "Rpl_semi_sync_master_yes_tx") - yes; n < len(more) {
			t.Errorf("db2 (the new writer): %d of %d writes acknowledged by db1", n, len(more))
		}
		if out, _ := hostExec(t, c, "web1", "grep -F 'the writer is' /var/log/foobar/app.log | tail -n 2"); !strings.Contains(out, s.addr["db2"]) {
			t.Errorf("the app's log does not name db2 as the writer:\n%s", out)
		}
	})
}

// startSuiteCluster starts hosts of a Debian suite for one test and
// removes them at its end.
func startSuiteCluster(t *testing.T, suite string, hosts []string) *testhosts.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := testhosts.Start(ctx, testhosts.Options{
		Prefix: testhosts.UniquePrefix(t.Name()),
		Hosts:  hosts,
		Dir:    t.TempDir(),
		Logf:   t.Logf,
		Suite:  suite,
	})
	if err != nil {
		t.Fatalf("starting %s test hosts: %v", suite, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func idList(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

// siteClient talks to https://www.foobar.com/ through one lb host, trusting
// only skiff's CA.
type siteClient struct{ http *http.Client }

func newSiteClient(t *testing.T, s *stackSite, lb string) *siteClient {
	t.Helper()
	pem, err := os.ReadFile(s.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no certificate", s.ca)
	}
	addr := net.JoinHostPort(s.addr[lb], "443")
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "www.foobar.com"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &siteClient{http: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// tryPost posts a visit: its id, the status and the body.
func (c *siteClient) tryPost() (int64, int, string) {
	resp, err := c.http.Post("https://www.foobar.com/visits", "application/json", nil)
	if err != nil {
		return 0, 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var got struct {
		ID int64 `json:"id"`
	}
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(body, &got); err != nil || got.ID <= 0 {
			return 0, 0, fmt.Sprintf("201 with %q", body)
		}
	}
	return got.ID, resp.StatusCode, string(body)
}

// post posts a visit and returns its id; anything but 201 fails the test.
func (c *siteClient) post(t *testing.T) int64 {
	t.Helper()
	id, code, body := c.tryPost()
	if code != http.StatusCreated {
		t.Fatalf("POST /visits: %d %s", code, body)
	}
	return id
}

// get reads a visit back: the visit and the status.
func (c *siteClient) get(t *testing.T, id int64) (struct {
	ID     int64  `json:"id"`
	Client string `json:"client"`
}, int) {
	t.Helper()
	var v struct {
		ID     int64  `json:"id"`
		Client string `json:"client"`
	}
	resp, err := c.http.Get("https://www.foobar.com/visits/" + strconv.FormatInt(id, 10))
	if err != nil {
		t.Fatalf("GET /visits/%d: %v", id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("GET /visits/%d: %q is not a visit: %v", id, body, err)
		}
	}
	return v, resp.StatusCode
}
