package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/sumostandin/debbuild"
	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// sumoReceiver stands for Sumo Logic's collection endpoint: it records
// the lines the stand-in collector POSTs, by source name.
type sumoReceiver struct {
	mu    sync.Mutex
	lines map[string][]string
	auth  []string
}

func (s *sumoReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	user, _, _ := r.BasicAuth()
	s.mu.Lock()
	defer s.mu.Unlock()
	name := r.Header.Get("X-Sumo-Name")
	s.lines[name] = append(s.lines[name], strings.Split(strings.TrimSpace(string(body)), "\n")...)
	s.auth = append(s.auth, user)
}

func (s *sumoReceiver) has(source, substr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines[source] {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

func randomSecret() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "S3c-" + hex.EncodeToString(b)
}

// stackSite is a deployed-able foobar.com on test hosts.
type stackSite struct {
	c       *testhosts.Cluster
	inv     string
	ca      string
	secrets map[string]string
	addr    map[string]string
	sumo    *sumoReceiver
}

// newStackSite starts web1, web2 (lb, web), db1 (db_primary), db2
// (db_replica) and an outside client, and writes the site's inventory.
func newStackSite(t *testing.T) *stackSite {
	t.Helper()
	names, _ := testhosts.SiteHosts()
	c := startCluster(t, names, []string{"outside"})
	root, _ := testhosts.RepoRoot()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	deb, err := debbuild.Build(ctx, filepath.Join(dir, "deb"))
	if err != nil {
		t.Fatalf("building the collector stand-in: %v", err)
	}
	s := &stackSite{c: c, sumo: &sumoReceiver{lines: map[string][]string{}}, secrets: map[string]string{}, addr: map[string]string{}}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.sumo}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	gw := c.Gateway()
	sumoURL := fmt.Sprintf("http://%s:%d", gw, ln.Addr().(*net.TCPAddr).Port)

	var secretBlocks strings.Builder
	for _, name := range []string{"mysql_root_password", "mysql_replication_password", "app_db_password", "sumo_access_id", "sumo_access_key"} {
		s.secrets[name] = randomSecret()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s.secrets[name]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&secretBlocks, "secret %q { file = %q }\n", name, p)
	}
	extra := fmt.Sprintf(`group "all" {
  vars = {
    domain       = "www.foobar.com"
    admin_cidrs  = ["%s/32"]
    app_version  = "1.0.0"
    app_binary   = %q
    sumo_package = %q
    sumo_url     = %q
  }
}
%s`, gw, filepath.Join(root, "bin", "foobar-app"), deb, sumoURL, secretBlocks.String())
	s.inv = filepath.Join(dir, "inventory.hcl")
	_, groups := testhosts.SiteHosts()
	if err := c.WriteInventory(s.inv, groups, extra); err != nil {
		t.Fatal(err)
	}
	s.ca = filepath.Join(dir, ".skiff", "pki", "ca.crt")
	for _, h := range append(append([]testhosts.Host{}, c.Hosts...), c.Clients...) {
		s.addr[h.Name] = h.Address
	}
	return s
}

// noSecrets fails when any secret value shows in a run's output.
func (s *stackSite) noSecrets(t *testing.T, r run) {
	t.Helper()
	for name, v := range s.secrets {
		if strings.Contains(r.stdout, v) || strings.Contains(r.stderr, v) {
			t.Errorf("secret %s appears in skiff's output", name)
		}
	}
}

// sql runs a query on a db host as root through the unix socket.
func (s *stackSite) sql(t *testing.T, host, query string) string {
	t.Helper()
	out, code := hostExec(t, s.c, host, "mysql -N -B -e "+shellQuote(query))
	if code != 0 {
		t.Fatalf("%s: mysql %q: exit %d: %s", host, query, code, out)
	}
	return strings.TrimSpace(out)
}

// replicaStatus is SHOW SLAVE STATUS on db2, with field names.
func (s *stackSite) replicaStatus(t *testing.T) string {
	t.Helper()
	out, code := hostExec(t, s.c, "db2", `mysql -e 'SHOW SLAVE STATUS\G'`)
	if code != 0 {
		t.Fatalf("db2: SHOW SLAVE STATUS: exit %d: %s", code, out)
	}
	return out
}

func shellQuoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = shellQuote(s)
	}
	return out
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// curlSite fetches https://www.foobar.com/ through one lb host, trusting
// only skiff's CA, as a user would check it.
func (s *stackSite) curlSite(lb string) (string, error) {
	out, err := exec.Command("curl", "-sS", "--fail", "--max-time", "10", "--cacert", s.ca,
		"--resolve", "www.foobar.com:443:"+s.addr[lb], "https://www.foobar.com/").CombinedOutput()
	return string(out), err
}

func eventually(t *testing.T, d time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, d, last)
		}
		time.Sleep(time.Second)
	}
}

var visitNumber = regexp.MustCompile(`Visit number (\d+)`)

// TestStackOnRealHosts deploys the whole foobar.com site: the primary first
// (with data written through the app), then the replica, which must be
// seeded so that nothing is lost; then the site answers over HTTPS through
// both load balancers, replication runs, the firewall allows only what the
// design needs, logs reach the collector endpoint, and a rerun changes nothing.
func TestStackOnRealHosts(t *testing.T) {
	s := newStackSite(t)
	c := s.c

	// 1. Everything but the replica.
	r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--output", "json", "--limit", "!db2")
	s.noSecrets(t, r)
	if r.code != 0 || r.json.Summary.Failed+r.json.Summary.Unreachable != 0 {
		t.Fatalf("first apply: exit %d, summary %+v\n%s", r.code, r.json.Summary, r.stderr)
	}
	// ufw is on, and new SSH connections from the admin network still work.
	if r := skiff(t, "exec", "-i", s.inv, "--limit", "!db2", "--", "ufw status | head -1"); r.code != 0 || strings.Count(r.stdout, "Status: active") != 3 {
		t.Fatalf("after the firewall, exec: exit %d\n%s", r.code, r.stdout)
	}
	// Data written through the app on web1 (straight to nginx, on the host).
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

	// 2. The whole site: the replica is seeded from the primary, then replicates.
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
		"Master_SSL_Allowed: Yes", "Master_SSL_CA_File: /etc/mysql/tls/ca.crt", "Master_SSL_Verify_Server_Cert: Yes"} {
		if !strings.Contains(status, want) {
			t.Errorf("replica status lacks %q:\n%s", want, status)
		}
	}

	t.Run("replication verifies the primary's certificate", func(t *testing.T) {
		// Pointed at a CA that did not sign db1's certificate (db2's own
		// certificate), the IO thread must fail; skiff puts the CA back.
		s.sql(t, "db2", "STOP SLAVE; CHANGE MASTER TO MASTER_SSL_CA = '/etc/mysql/tls/server.crt'; START SLAVE")
		eventually(t, 60*time.Second, "the IO thread refusing db1's certificate", func() (bool, string) {
			st := s.replicaStatus(t)
			return !strings.Contains(st, "Slave_IO_Running: Yes") && strings.Contains(st, "SSL connection error"), st
		})
		r := skiff(t, "plan", "-i", s.inv, "playbooks/site.hcl", "--limit", "db2")
		if !strings.Contains(r.stdout, "to TLS verified with /etc/mysql/tls/ca.crt (now TLS with CA /etc/mysql/tls/server.crt)") {
			t.Errorf("plan does not show the CA put back:\n%s%s", r.stdout, r.stderr)
		}
		r = skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--limit", "db2")
		if r.code != 0 {
			t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		st := s.replicaStatus(t)
		for _, want := range []string{"Slave_IO_Running: Yes", "Slave_SQL_Running: Yes", "Master_SSL_CA_File: /etc/mysql/tls/ca.crt"} {
			if !strings.Contains(st, want) {
				t.Errorf("after apply, replica status lacks %q:\n%s", want, st)
			}
		}
	})

	t.Run("https through both load balancers", func(t *testing.T) {
		for _, lb := range []string{"web1", "web2"} {
			var page string
			eventually(t, 60*time.Second, "https via "+lb, func() (bool, string) {
				out, err := s.curlSite(lb)
				page = out
				return err == nil && strings.Contains(out, "Visit number"), out
			})
			if !strings.Contains(page, "Recent visits") {
				t.Errorf("page via %s lacks data read from the replica:\n%s", lb, page)
			}
		}
		out, err := exec.Command("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--max-time", "10", "http://"+s.addr["web1"]+"/").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "301 https://") {
			t.Errorf("http does not redirect to https: %s %v", out, err)
		}
		// TLS 1.1 is refused end to end (nginx speaks 1.2 and up).
		if out, err := exec.Command("curl", "-sS", "--max-time", "10", "--cacert", s.ca, "--tls-max", "1.1", "--tlsv1.1",
			"--resolve", "www.foobar.com:443:"+s.addr["web1"], "https://www.foobar.com/").CombinedOutput(); err == nil {
			t.Errorf("TLS 1.1 accepted: %s", out)
		}
	})

	t.Run("a row written through the app reaches the replica", func(t *testing.T) {
		page, err := s.curlSite("web2")
		m := visitNumber.FindStringSubmatch(page)
		if err != nil || m == nil {
			t.Fatalf("no visit number: %v %s", err, page)
		}
		eventually(t, 30*time.Second, "visit "+m[1]+" on the replica", func() (bool, string) {
			got := s.sql(t, "db2", "SELECT COUNT(*) FROM foobar.visits WHERE id = "+m[1])
			return got == "1", got
		})
	})

	t.Run("the firewall allows only what the design needs", func(t *testing.T) {
		probe := func(from, to string, port int) bool {
			_, code := hostExec(t, c, from, fmt.Sprintf("nc -z -w 3 %s %d", s.addr[to], port))
			return code == 0
		}
		checks := []struct {
			from, to string
			port     int
			open     bool
		}{
			{"outside", "web1", 443, true},
			{"outside", "web2", 443, true},
			{"outside", "web1", 80, true},
			{"outside", "web1", 8443, false},
			{"outside", "web2", 8443, false},
			{"outside", "db1", 3306, false},
			{"outside", "db2", 3306, false},
			{"outside", "web1", 22, false}, // ssh only from admin_cidrs
			{"outside", "db1", 22, false},
			{"web2", "web1", 8443, true}, // lb to nginx
			{"web1", "db1", 3306, true},  // app to primary
			{"web2", "db2", 3306, true},  // app to replica
			{"db2", "db1", 3306, true},   // replication
		}
		for _, ch := range checks {
			if got := probe(ch.from, ch.to, ch.port); got != ch.open {
				t.Errorf("%s → %s:%d open=%v, want %v", ch.from, ch.to, ch.port, got, ch.open)
			}
		}
		for _, h := range []string{"web1", "web2", "db1", "db2"} {
			if out, _ := hostExec(t, c, h, "ufw status"); !strings.Contains(out, "Status: active") {
				t.Errorf("ufw on %s: %s", h, out)
			}
		}
	})

	t.Run("nginx access-log lines reach the collector endpoint", func(t *testing.T) {
		eventually(t, 60*time.Second, "nginx access lines at the endpoint", func() (bool, string) {
			_, _ = s.curlSite("web1")
			_, _ = s.curlSite("web2")
			return s.sumo.has("nginx-access", "GET / HTTP"), fmt.Sprint(len(s.sumo.lines["nginx-access"]), " lines")
		})
		s.sumo.mu.Lock()
		for _, u := range s.sumo.auth {
			if u != s.secrets["sumo_access_id"] {
				t.Errorf("collector authenticated as %q", u)
				break
			}
		}
		s.sumo.mu.Unlock()
		for _, h := range []string{"web1", "db1"} {
			out, _ := hostExec(t, c, h, "stat -c '%a %U' /opt/SumoCollector/config/user.properties")
			if strings.TrimSpace(out) != "600 root" {
				t.Errorf("%s: user.properties is %s, want 600 root", h, out)
			}
		}
	})

	t.Run("haproxy runtime API; reloads drop no request", func(t *testing.T) {
		eventually(t, 30*time.Second, "both servers UP in haproxy", func() (bool, string) {
			out, _ := hostExec(t, c, "web1", "printf 'show stat\\n' | nc -U -q 1 /run/haproxy/admin.sock | cut -d, -f1,2,18")
			return strings.Contains(out, "web_tls,web1,UP") && strings.Contains(out, "web_tls,web2,UP"), out
		})
		var sent, failed int
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					out, err := s.curlSite("web1") // a new connection each time
					mu.Lock()
					sent++
					if err != nil || !strings.Contains(out, "Visit number") {
						failed++
						t.Logf("request failed: %v %s", err, out)
					}
					mu.Unlock()
				}
			}()
		}
		for i := 0; i < 3; i++ {
			time.Sleep(1500 * time.Millisecond)
			if out, code := hostExec(t, c, "web1", "systemctl reload haproxy"); code != 0 {
				t.Errorf("reload: %s", out)
			}
		}
		time.Sleep(1500 * time.Millisecond)
		close(stop)
		wg.Wait()
		t.Logf("%d requests during 3 haproxy reloads, %d failed", sent, failed)
		if failed != 0 || sent < 20 {
			t.Errorf("%d of %d requests failed during reloads", failed, sent)
		}
	})

	t.Run("keys and credentials are 0600 root; /version", func(t *testing.T) {
		for _, f := range []string{"/etc/nginx/tls/site.key", "/etc/foobar/foobar.env"} {
			out, _ := hostExec(t, c, "web2", "stat -c '%a %U' "+f)
			if strings.TrimSpace(out) != "600 root" {
				t.Errorf("%s is %s, want 600 root", f, out)
			}
		}
		out, err := exec.Command("curl", "-sS", "--fail", "--max-time", "10", "--cacert", s.ca,
			"--resolve", "www.foobar.com:443:"+s.addr["web2"], "https://www.foobar.com/version").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "1.0.0" {
			t.Errorf("/version = %q (%v), want 1.0.0", out, err)
		}
	})

	t.Run("app releases: restart only on change, keep the last 5", func(t *testing.T) {
		pid := func() string {
			out, _ := hostExec(t, c, "web1", "systemctl show -p MainPID --value foobar-app")
			return strings.TrimSpace(out)
		}
		first := pid()
		if r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--limit", "web1", "--output", "json"); r.code != 0 || r.json.Summary.Changed != 0 {
			t.Fatalf("no-op apply: exit %d, %+v", r.code, r.json.Summary)
		}
		if pid() != first {
			t.Errorf("the app restarted on a run that changed nothing")
		}
		for _, v := range []string{"1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5", "1.0.6"} {
			if r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--limit", "web1", "-e", "app_version="+v); r.code != 0 {
				t.Fatalf("deploying %s: exit %d\n%s", v, r.code, r.stdout)
			}
		}
		if pid() == first {
			t.Errorf("the app did not restart for a new release")
		}
		out, _ := hostExec(t, c, "web1", "readlink /opt/foobar/current; ls -1 /opt/foobar/releases | sort | tr '\\n' ' '; curl -s 127.0.0.1:8080/version")
		want := "/opt/foobar/releases/1.0.6\n1.0.2 1.0.3 1.0.4 1.0.5 1.0.6 1.0.6\n"
		if out != want {
			t.Errorf("after 6 releases: %q, want %q", out, want)
		}
		// Back to the site's version for what follows.
		if r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--limit", "web1"); r.code != 0 {
			t.Fatalf("back to 1.0.0: exit %d", r.code)
		}
	})

	t.Run("given certificates replace the local CA's", func(t *testing.T) {
		dir := t.TempDir()
		caFile, certFile, keyFile := writeTestPKI(t, dir, "www.foobar.com")
		r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--output", "json",
			"-e", "tls_cert_file="+certFile, "-e", "tls_key_file="+keyFile, "-e", "tls_ca_file="+caFile)
		if r.code != 0 {
			t.Fatalf("apply with given certificates: exit %d\n%s", r.code, r.stderr)
		}
		for _, h := range r.json.Hosts {
			for _, ch := range h.Changes {
				if ch.Task == "file.key" && strings.Contains(ch.Diff, "PRIVATE KEY") {
					t.Errorf("a key's diff is shown")
				}
			}
		}
		eventually(t, 60*time.Second, "https with the given certificate", func() (bool, string) {
			out, err := exec.Command("curl", "-sS", "--fail", "--max-time", "10", "--cacert", caFile,
				"--resolve", "www.foobar.com:443:"+s.addr["web1"], "https://www.foobar.com/").CombinedOutput()
			return err == nil && strings.Contains(string(out), "Visit number"), string(out)
		})
		// And back to skiff's CA.
		if r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes"); r.code != 0 {
			t.Fatalf("back to the local CA: exit %d", r.code)
		}
		eventually(t, 60*time.Second, "https with skiff's CA again", func() (bool, string) {
			out, err := s.curlSite("web2")
			return err == nil && strings.Contains(out, "Visit number"), out
		})
	})

	t.Run("a broken nginx config never goes live", func(t *testing.T) {
		work := t.TempDir()
		root, _ := testhosts.RepoRoot()
		if out, err := exec.Command("cp", "-r", filepath.Join(root, "roles"), filepath.Join(root, "playbooks"), work).CombinedOutput(); err != nil {
			t.Fatalf("copying roles: %v %s", err, out)
		}
		tmpl := filepath.Join(work, "roles", "nginx", "templates", "nginx.conf.tftpl")
		src, _ := os.ReadFile(tmpl)
		broken := strings.Replace(string(src), "http {\n", "http {\n    this_is_not_a_directive on;\n", 1)
		if err := os.WriteFile(tmpl, []byte(broken), 0o644); err != nil {
			t.Fatal(err)
		}
		before, _ := hostExec(t, c, "web1", "sha256sum /etc/nginx/nginx.conf")
		r := skiff(t, "apply", "-i", s.inv, filepath.Join(work, "playbooks", "site.hcl"), "--yes", "--limit", "web1", "--output", "json")
		st, _, msg := r.json.host("web1")
		if r.code != 1 || st != "failed" || !strings.Contains(msg, "this_is_not_a_directive") {
			t.Fatalf("exit %d, web1 %s: %s", r.code, st, msg)
		}
		if after, _ := hostExec(t, c, "web1", "sha256sum /etc/nginx/nginx.conf"); after != before {
			t.Errorf("the live nginx.conf changed")
		}
		if out, err := s.curlSite("web1"); err != nil || !strings.Contains(out, "Visit number") {
			t.Errorf("HTTPS does not answer after the failed apply: %v %s", err, out)
		}
	})

	t.Run("secrets are nowhere others can read", func(t *testing.T) {
		// On the operator's machine: journals, the CA, plans beside the inventory.
		var pats []string
		for _, v := range s.secrets {
			pats = append(pats, "-e", v)
		}
		local := exec.Command("grep", append([]string{"-rlF"}, append(pats, filepath.Join(filepath.Dir(s.inv), ".skiff"))...)...)
		if out, _ := local.Output(); len(out) > 0 {
			t.Errorf("secrets in skiff's local state: %s", out)
		}
		// On the hosts: every file an unprivileged user can read.
		for _, h := range []string{"web1", "web2", "db1", "db2"} {
			cmd := "runuser -u nobody -- grep -rlsF " + strings.Join(shellQuoteAll(pats), " ") + " /etc /opt /var /tmp /home /srv /usr/local /run 2>/dev/null"
			if out, _ := hostExec(t, c, h, cmd); strings.TrimSpace(out) != "" {
				t.Errorf("%s: secrets readable by others in: %s", h, out)
			}
			// Nor in any process's command line.
			if out, _ := hostExec(t, c, h, "ps -eo args | grep -F "+strings.Join(shellQuoteAll(pats), " ")+" | grep -v grep"); strings.TrimSpace(out) != "" {
				t.Errorf("%s: secrets in a process's argv: %s", h, out)
			}
		}
		// The secrets do reach the files that need them (0600 root).
		if out, _ := hostExec(t, c, "web1", "grep -c FOOBAR_DB_PASSWORD="+shellQuote(s.secrets["app_db_password"])+" /etc/foobar/foobar.env"); strings.TrimSpace(out) != "1" {
			t.Errorf("the app's env file lacks its password")
		}
	})

	// Through the probe helper (which apply copied to every host) or with
	// sh alone, the plan of a drifted site is the same: ufw rules, users,
	// groups, packages, services, files and modes.
	t.Run("the probe helper's plan is sh's", func(t *testing.T) {
		hostExec(t, c, "web1", "ufw allow 9999/tcp >/dev/null && gpasswd -d foobar foobar >/dev/null 2>&1; usermod -s /bin/sh foobar && chmod 0644 /etc/foobar/foobar.env && systemctl stop collector")
		// The app's database account on the primary (not replicated).
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
		if len(viaHelper["web1"]) < 3 || len(viaHelper["db1"]) == 0 {
			t.Errorf("the plan missed drift: %q", viaHelper)
		}
		for _, h := range []string{"web1", "web2", "db1", "db2"} {
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
		planFile := filepath.Join(t.TempDir(), "site.plan")
		r = skiff(t, "plan", "-i", s.inv, "playbooks/site.hcl", "--detailed-exitcode", "--out", planFile)
		if r.code != 0 {
			t.Errorf("plan after rerun: exit %d\n%s", r.code, r.stdout)
		}
		saved, err := os.ReadFile(planFile)
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range s.secrets {
			if strings.Contains(string(saved), v) {
				t.Errorf("secret %s is in the saved plan", name)
			}
		}
		status := s.replicaStatus(t)
		if !strings.Contains(status, "Slave_IO_Running: Yes") || !strings.Contains(status, "Slave_SQL_Running: Yes") {
			t.Errorf("replication stopped after the rerun:\n%s", status)
		}
	})
}

// writeTestPKI writes a CA and a server certificate for name signed by it,
// as an operator's own certificates would be.
func writeTestPKI(t *testing.T, dir, name string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "operator test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "site.crt"), filepath.Join(dir, "site.key")
	for p, block := range map[string]*pem.Block{
		caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}
