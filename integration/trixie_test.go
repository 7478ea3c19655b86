package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// TestStackOnTrixie deploys the foobar.com site to Debian 13 (trixie)
// hosts, the smallest whole stack: web1 (lb, web), db1 the primary, db2 the
// replica. Trixie ships MariaDB 11.8, nginx 1.26, HAProxy 3.0, systemd 257
// and ufw on nftables; the same playbook must work there as on bookworm:
// the replica is seeded from the primary's data and replicates over
// verified TLS, the site answers over HTTPS (HTTP/2) through HAProxy, logs
// reach the collector, the probe helper reads drift as sh does, and a rerun
// changes nothing. The outside audit holds there too (testssl.sh, the app
// unit's systemd-analyze exposure, MySQL refusing cleartext), and a rolling
// upgrade restarts the sandboxed app.
func TestStackOnTrixie(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Docker")
	}
	s := newSuiteSite(t, testhosts.Trixie, []string{"web1", "db1", "db2"}, map[string][]string{
		"web1": {"lb", "web"},
		"db1":  {"db_primary"},
		"db2":  {"db_replica"},
	})
	c := s.c
	for _, h := range []string{"web1", "db1", "db2"} {
		if out, _ := hostExec(t, c, h, ". /etc/os-release && echo $VERSION_CODENAME"); strings.TrimSpace(out) != "trixie" {
			t.Fatalf("%s runs %q, want trixie", h, out)
		}
	}

	// 1. Everything but the replica, then data written through the app.
	r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--output", "json", "--limit", "!db2")
	s.noSecrets(t, r)
	if r.code != 0 || r.json.Summary.Failed+r.json.Summary.Unreachable != 0 {
		t.Fatalf("first apply: exit %d, summary %+v\n%s", r.code, r.json.Summary, r.stderr)
	}
	for i := 0; i < 3; i++ {
		out, code := hostExec(t, c, "web1", "curl -sS --fail --cacert /etc/foobar/db-ca.crt --resolve www.foobar.com:8443:127.0.0.1 https://www.foobar.com:8443/")
		if code != 0 || !strings.Contains(out, "Visit number") {
			t.Fatalf("the app on web1 does not answer (exit %d): %s", code, out)
		}
	}
	before := s.sql(t, "db1", "SELECT COUNT(*) FROM foobar.visits")
	if n, _ := strconv.Atoi(before); n < 3 {
		t.Fatalf("primary holds %s visits, want at least 3", before)
	}

	// 2. The whole site: the replica is seeded from a dump of the primary.
	r = skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--output", "json")
	s.noSecrets(t, r)
	if r.code != 0 || r.json.Summary.Failed+r.json.Summary.Unreachable != 0 {
		t.Fatalf("second apply: exit %d, summary %+v\n%s", r.code, r.json.Summary, r.stderr)
	}
	if got := s.sql(t, "db2", "SELECT COUNT(*) FROM foobar.visits"); got != before {
		t.Errorf("replica holds %s visits after seeding, primary had %s", got, before)
	}
	status := s.replicaStatus(t)
	for _, want := range []string{"Slave_IO_Running: Yes", "Slave_SQL_Running: Yes", "Master_Host: " + s.addr["db1"],
		"Master_SSL_Allowed: Yes", "Master_SSL_CA_File: /etc/mysql/tls/ca.crt", "Master_SSL_Verify_Server_Cert: Yes", "Using_Gtid: Slave_Pos"} {
		if !strings.Contains(status, want) {
			t.Errorf("replica status lacks %q:\n%s", want, status)
		}
	}

	t.Run("https through haproxy, reading the replica", func(t *testing.T) {
		var page string
		eventually(t, 60*time.Second, "https via web1", func() (bool, string) {
			out, err := s.curlSite("web1")
			page = out
			return err == nil && strings.Contains(out, "Visit number"), out
		})
		if !strings.Contains(page, "Recent visits") {
			t.Errorf("page lacks data read from the replica:\n%s", page)
		}
		// nginx 1.26 speaks HTTP/2 through HAProxy's TLS passthrough, and
		// its config draws no warning (a deprecated form would, at every
		// reload).
		out, err := exec.Command("curl", "-sS", "-o", "/dev/null", "-w", "%{http_version}", "--http2", "--max-time", "10", "--cacert", s.ca,
			"--resolve", "www.foobar.com:443:"+s.addr["web1"], "https://www.foobar.com/").CombinedOutput()
		if err != nil || string(out) != "2" {
			t.Errorf("HTTP version through haproxy: %q (%v), want 2", out, err)
		}
		if out, code := hostExec(t, c, "web1", "nginx -t 2>&1"); code != 0 || strings.Contains(out, "[warn]") {
			t.Errorf("nginx -t: exit %d\n%s", code, out)
		}
	})

	t.Run("a row written through the app reaches the replica", func(t *testing.T) {
		page, err := s.curlSite("web1")
		m := visitNumber.FindStringSubmatch(page)
		if err != nil || m == nil {
			t.Fatalf("no visit number: %v %s", err, page)
		}
		eventually(t, 30*time.Second, "visit "+m[1]+" on the replica", func() (bool, string) {
			got := s.sql(t, "db2", "SELECT COUNT(*) FROM foobar.visits WHERE id = "+m[1])
			return got == "1", got
		})
	})

	t.Run("the firewall is on and lets the stack talk", func(t *testing.T) {
		for _, h := range []string{"web1", "db1", "db2"} {
			if out, _ := hostExec(t, c, h, "ufw status"); !strings.Contains(out, "Status: active") {
				t.Errorf("ufw on %s: %s", h, out)
			}
		}
		for _, p := range []struct {
			from, to string
			port     int
		}{{"web1", "db1", 3306}, {"web1", "db2", 3306}, {"db2", "db1", 3306}} {
			if out, code := hostExec(t, c, p.from, fmt.Sprintf("nc -z -w 3 %s %d", s.addr[p.to], p.port)); code != 0 {
				t.Errorf("%s → %s:%d closed: %s", p.from, p.to, p.port, out)
			}
		}
	})

	t.Run("nginx access-log lines reach the collector endpoint", func(t *testing.T) {
		eventually(t, 60*time.Second, "nginx access lines at the endpoint", func() (bool, string) {
			_, _ = s.curlSite("web1")
			return s.sumo.has("nginx-access", "GET / HTTP"), fmt.Sprint(len(s.sumo.lines["nginx-access"]), " lines")
		})
	})

	// The outside audit, on trixie's OpenSSL 3.5, HAProxy 3.0, systemd 257
	// and MariaDB 11.8.
	auditTLS(t, c, "web1", s.ca)
	auditAppUnit(t, c, "web1")
	auditMySQLTLS(t, s, "web1")

	// The probe helper reads trixie's dpkg, ufw, systemd and account files
	// as sh does.
	t.Run("the probe helper's plan is sh's", func(t *testing.T) {
		hostExec(t, c, "web1", "ufw allow 9999/tcp >/dev/null; usermod -s /bin/sh foobar && chmod 0644 /etc/foobar/foobar.env && systemctl stop collector")
		hostExec(t, c, "db1", `h=$(mysql -N -B -e "SELECT Host FROM mysql.user WHERE User = 'foobar' LIMIT 1") && mysql -e "SET sql_log_bin = 0; ALTER USER 'foobar'@'$h' IDENTIFIED BY 'drifted'"`)
		changes := func(args ...string) map[string][]string {
			r := skiff(t, append([]string{"plan", "-i", s.inv, "playbooks/site.hcl", "--output", "json", "--detailed-exitcode"}, args...)...)
			if r.code != 2 {
				t.Fatalf("plan %v with drift: exit %d\n%s", args, r.code, r.stderr)
			}
			m := map[string][]string{}
			for _, h := range r.json.Hosts {
				for _, ch := range h.Changes {
					m[h.Name] = append(m[h.Name], ch.Task+" "+ch.Action+" "+ch.Summary+"\n"+ch.Diff)
				}
			}
			return m
		}
		viaHelper, viaSh := changes(), changes("--no-probe-helper")
		if len(viaHelper["web1"]) < 4 || len(viaHelper["db1"]) == 0 {
			t.Errorf("the plan missed drift: %q", viaHelper)
		}
		for _, h := range []string{"web1", "db1", "db2"} {
			if a, b := strings.Join(viaHelper[h], "\n--\n"), strings.Join(viaSh[h], "\n--\n"); a != b {
				t.Errorf("%s: the helper's plan differs from sh's:\n%s\n=== sh:\n%s", h, a, b)
			}
		}
		if r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes"); r.code != 0 {
			t.Fatalf("repair: exit %d\n%s", r.code, r.stdout)
		}
	})

	t.Run("a rerun changes nothing", func(t *testing.T) {
		r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--output", "json")
		s.noSecrets(t, r)
		if r.code != 0 || r.json.Summary.Changed != 0 {
			for _, h := range r.json.Hosts {
				for _, ch := range h.Changes {
					t.Logf("%s changed %s/%s %s: %s", h.Name, ch.Play, ch.Role, ch.Task, ch.Summary)
				}
			}
			t.Fatalf("rerun: exit %d, summary %+v", r.code, r.json.Summary)
		}
		if r := skiff(t, "plan", "-i", s.inv, "playbooks/site.hcl", "--detailed-exitcode"); r.code != 0 {
			t.Errorf("plan after rerun: exit %d\n%s", r.code, r.stdout)
		}
		status := s.replicaStatus(t)
		if !strings.Contains(status, "Slave_IO_Running: Yes") || !strings.Contains(status, "Slave_SQL_Running: Yes") {
			t.Errorf("replication stopped after the rerun:\n%s", status)
		}
	})

	upgradeSandboxedApp(t, s, s.inv, "web1")
}

// newSuiteSite starts hosts running a Debian suite, with their site groups,
// and writes the foobar.com inventory for them; logs go to a collector
// endpoint of the test's own.
func newSuiteSite(t *testing.T, suite string, names []string, groups map[string][]string) *stackSite {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, err := testhosts.Start(ctx, testhosts.Options{
		Prefix: testhosts.UniquePrefix(t.Name()),
		Hosts:  names,
		Dir:    filepath.Join(dir, "hosts"),
		Logf:   t.Logf,
		Suite:  suite,
	})
	if err != nil {
		t.Fatalf("starting %s test hosts: %v", suite, err)
	}
	t.Cleanup(func() { c.Close() })

	s := &stackSite{c: c, sumo: &sumoReceiver{lines: map[string][]string{}}, secrets: map[string]string{}, addr: map[string]string{}}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.sumo}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	sumoURL := fmt.Sprintf("http://%s:%d", c.Gateway(), ln.Addr().(*net.TCPAddr).Port)

	root, err := testhosts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	extra, err := c.SiteSettings(ctx, root, dir, sumoURL)
	if err != nil {
		t.Fatalf("site settings: %v", err)
	}
	for _, name := range []string{"mysql_root_password", "mysql_replication_password", "app_db_password", "sumo_access_id", "sumo_access_key"} {
		v, err := os.ReadFile(filepath.Join(dir, "secrets", name))
		if err != nil {
			t.Fatal(err)
		}
		s.secrets[name] = strings.TrimSpace(string(v))
	}
	s.inv = filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(s.inv, groups, extra); err != nil {
		t.Fatal(err)
	}
	s.ca = filepath.Join(dir, ".skiff", "pki", "ca.crt")
	for _, h := range c.Hosts {
		s.addr[h.Name] = h.Address
	}
	return s
}
