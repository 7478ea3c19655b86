package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// keepAliveLoad is clients that each keep one HTTPS connection through an
// lb host for many requests of /version, as browsers and API clients do.
// A connection the server closes cleanly (a response with "Connection:
// close", or an idle connection closed before the next request reached it)
// is replaced, as HTTP clients do; any other error or status is a failure.
type keepAliveLoad struct {
	mu      sync.Mutex
	sent    int
	failed  int
	errs    []string
	dials   int
	answers []answer
	clients []*http.Client
	stop    chan struct{}
	wg      sync.WaitGroup
}

// answer is one response: the connection that carried it (its local
// address: unique while it is open) and the version it reported.
type answer struct {
	conn, version string
	at            time.Time
}

func startKeepAliveLoad(t *testing.T, s *stackSite, workers int) *keepAliveLoad {
	t.Helper()
	pem, err := os.ReadFile(s.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	l := &keepAliveLoad{stop: make(chan struct{})}
	for i := 0; i < workers; i++ {
		lb := s.addr[[]string{"web1", "web2"}[i%2]]
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxConnsPerHost:     1,
			MaxIdleConnsPerHost: 1,
			TLSClientConfig:     &tls.Config{RootCAs: pool},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				l.mu.Lock()
				l.dials++
				l.mu.Unlock()
				return dialer.DialContext(ctx, network, net.JoinHostPort(lb, "443"))
			},
		}}
		l.clients = append(l.clients, client)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				var conn string
				trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
					conn = info.Conn.LocalAddr().String()
				}}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "https://www.foobar.com/version", nil)
				resp, err := client.Do(req)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				l.mu.Lock()
				l.sent++
				switch {
				case err != nil:
					l.failed++
					l.errs = append(l.errs, err.Error())
				case resp.StatusCode != 200:
					l.failed++
					l.errs = append(l.errs, resp.Status+": "+strings.TrimSpace(string(body)))
				default:
					l.answers = append(l.answers, answer{conn: conn, version: strings.TrimSpace(string(body)), at: time.Now()})
				}
				l.mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	return l
}

// finish stops the clients and closes their connections: an idle one
// left open would hold a session that a later drain waits for.
func (l *keepAliveLoad) finish() {
	close(l.stop)
	l.wg.Wait()
	for _, c := range l.clients {
		c.CloseIdleConnections()
	}
}

// check fails the test on any failed request, and logs the figures.
func (l *keepAliveLoad) check(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: keep-alive clients sent %d requests on %d connections, %d failed", what, l.sent, l.dials, l.failed)
	if l.failed != 0 {
		t.Errorf("%s: %d of %d keep-alive requests failed: %v", what, l.failed, l.sent, l.errs[:min(5, len(l.errs))])
	}
	if len(l.answers) < 100 {
		t.Errorf("%s: only %d keep-alive requests answered", what, len(l.answers))
	}
}

// spanning counts the connections that answered both before and after
// moment; with versions, those that reported both versions.
func (l *keepAliveLoad) spanning(moment time.Time) int {
	before, after := map[string]bool{}, map[string]bool{}
	for _, a := range l.answers {
		if a.at.Before(moment) {
			before[a.conn] = true
		} else {
			after[a.conn] = true
		}
	}
	n := 0
	for c := range before {
		if after[c] {
			n++
		}
	}
	return n
}

// spanningVersions counts the connections that reported both from and to.
func (l *keepAliveLoad) spanningVersions(from, to string) int {
	seen := map[string]map[string]bool{}
	for _, a := range l.answers {
		if seen[a.conn] == nil {
			seen[a.conn] = map[string]bool{}
		}
		seen[a.conn][a.version] = true
	}
	n := 0
	for _, v := range seen {
		if v[from] && v[to] {
			n++
		}
	}
	return n
}

// TestKeepAliveClientsKeptThroughUpgradeAndReloads deploys the site (two
// lb+web hosts) and, under both kinds of load (a new connection per
// request, and keep-alive connections), upgrades the app and reloads
// HAProxy and nginx: no request fails, and keep-alive connections carry
// on through the app's restart under them (with the drain's nginx reload
// off, which otherwise moves them to the other server first: see
// TestRollingUpgradeUnderLoad) and through HAProxy's reload.
func TestKeepAliveClientsKeptThroughUpgradeAndReloads(t *testing.T) {
	s := newStackSite(t)
	if r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes"); r.code != 0 {
		t.Fatalf("deploying the site: exit %d\n%s", r.code, r.stdout)
	}
	eventually(t, 60*time.Second, "the site answering", func() (bool, string) {
		out, err := s.curlSite("web1")
		return err == nil, out
	})
	auditAppUnit(t, s.c, "web1") // the socket takes nothing from the sandbox
	if r := skiff(t, "plan", "-i", s.inv, "playbooks/site.hcl", "--detailed-exitcode"); r.code != 0 {
		t.Errorf("plan after the apply: exit %d\n%s", r.code, r.stdout)
	}
	root, _ := testhosts.RepoRoot()
	appBin := filepath.Join(root, "bin", "foobar-app")
	upgrade := func(t *testing.T, version string, extra ...string) time.Duration {
		t.Helper()
		start := time.Now()
		args := append([]string{"apply", "-i", s.inv, "playbooks/upgrade.hcl", "-e", "app_version=" + version, "-e", "app_binary=" + appBin, "--yes"}, extra...)
		r := skiff(t, args...)
		took := time.Since(start)
		if r.code != 0 {
			t.Fatalf("upgrade to %s: exit %d\n%s\n%s", version, r.code, r.stdout, r.stderr)
		}
		return took
	}

	t.Run("rolling upgrade: keep-alive connections carry on through the app's restart", func(t *testing.T) {
		plain := startLoad(t, s, 4)
		keep := startKeepAliveLoad(t, s, 4)
		time.Sleep(2 * time.Second)
		// The drain leaves nginx alone (web_service="": kept connections
		// are not moved off the server) and is short: the point is that
		// they survive the app's restart under them.
		took := upgrade(t, "2.0.0", "-e", "drain_timeout=3s", "-e", "web_service=")
		time.Sleep(2 * time.Second)
		plain.finish()
		keep.finish()
		t.Logf("rollout took %s; %d requests on new connections, %d failed", took.Round(100*time.Millisecond), plain.sent, plain.failed)
		keep.check(t, "upgrade")
		if plain.failed != 0 {
			t.Errorf("%d of %d requests on new connections failed: %v", plain.failed, plain.sent, plain.errs[:min(5, len(plain.errs))])
		}
		if n := keep.spanningVersions("1.0.0", "2.0.0"); n == 0 {
			t.Errorf("no keep-alive connection answered both 1.0.0 and 2.0.0: none was kept through an upgrade")
		}
	})

	for _, reload := range []struct{ service, what string }{
		{"haproxy", "HAProxy reload"},
		{"nginx", "nginx reload"},
	} {
		t.Run(reload.what+": no request fails", func(t *testing.T) {
			plain := startLoad(t, s, 4)
			keep := startKeepAliveLoad(t, s, 4)
			time.Sleep(2 * time.Second)
			moment := time.Now()
			for _, h := range []string{"web1", "web2"} {
				if out, code := hostExec(t, s.c, h, "systemctl reload "+reload.service); code != 0 {
					t.Fatalf("%s: systemctl reload %s: exit %d: %s", h, reload.service, code, out)
				}
			}
			time.Sleep(3 * time.Second)
			plain.finish()
			keep.finish()
			keep.check(t, reload.what)
			if plain.failed != 0 {
				t.Errorf("%d of %d requests on new connections failed: %v", plain.failed, plain.sent, plain.errs[:min(5, len(plain.errs))])
			}
			n := keep.spanning(moment)
			t.Logf("%s: %d keep-alive connections answered before and after it", reload.what, n)
			// HAProxy's old process keeps the connections it has: the
			// clients do not even notice. nginx's old workers end their
			// idle keep-alive connections, which clients replace.
			if reload.service == "haproxy" && n == 0 {
				t.Errorf("no keep-alive connection was kept through the HAProxy reload")
			}
		})
	}

	// A host deployed before the socket existed: the app binds its port
	// itself. One upgrade moves the port to the socket.
	t.Run("an app that binds its port itself converges in one upgrade", func(t *testing.T) {
		for _, h := range []string{"web1", "web2"} {
			out, code := hostExec(t, s.c, h, `set -e
systemctl disable --now foobar-app.socket 2>&1
rm /etc/systemd/system/foobar-app.socket
sed -i '/foobar-app.socket/d' /etc/systemd/system/foobar-app.service
systemctl daemon-reload
systemctl restart foobar-app.service
sleep 1
ss -Hltnp 'sport = :8080'`)
			if code != 0 || !strings.Contains(out, "foobar-app") {
				t.Fatalf("%s: the app listening on its own: exit %d: %s", h, code, out)
			}
		}
		plain := startLoad(t, s, 4)
		time.Sleep(time.Second)
		upgrade(t, "2.1.0")
		plain.finish()
		if plain.failed != 0 {
			t.Errorf("%d of %d requests failed: %v", plain.failed, plain.sent, plain.errs[:min(5, len(plain.errs))])
		}
		for _, h := range []string{"web1", "web2"} {
			out, _ := hostExec(t, s.c, h, "systemctl is-active foobar-app.socket foobar-app.service; systemctl is-enabled foobar-app.socket; curl -s 127.0.0.1:8080/version")
			if got := strings.Join(strings.Fields(out), " "); got != "active active enabled 2.1.0" {
				t.Errorf("%s: socket and app active, socket enabled, version = %q, want \"active active enabled 2.1.0\"", h, got)
			}
		}
		if r := skiff(t, "plan", "-i", s.inv, "playbooks/upgrade.hcl", "-e", "app_version=2.1.0", "-e", "app_binary="+appBin, "--detailed-exitcode"); r.code != 0 {
			t.Errorf("plan after the upgrade: exit %d\n%s", r.code, r.stdout)
		}
	})

	// A release that fails its checks is rolled back on the socket too: the
	// old release takes the socket again and serves.
	t.Run("a broken release is rolled back onto the socket", func(t *testing.T) {
		broken := filepath.Join(t.TempDir(), "brokenapp")
		build := exec.Command("go", "build", "-o", broken, "./integration/testdata/brokenapp")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building brokenapp: %v\n%s", err, out)
		}
		plain := startLoad(t, s, 4)
		time.Sleep(time.Second)
		r := skiff(t, "apply", "-i", s.inv, "playbooks/upgrade.hcl", "-e", "app_version=4.0.0", "-e", "app_binary="+broken,
			"-e", "verify_timeout=10s", "--yes", "--output", "json")
		eventually(t, 60*time.Second, "web1 UP again", func() (bool, string) {
			out, _ := hostExec(t, s.c, "web2", "printf 'show stat\\n' | nc -U -q 1 /run/haproxy/admin.sock | cut -d, -f1,2,18 | grep web_tls,web1")
			return strings.Contains(out, "UP") && !strings.Contains(out, "DRAIN"), out
		})
		plain.finish()
		if r.code != 1 {
			t.Errorf("broken upgrade: exit %d, want 1\n%s", r.code, r.stderr)
		}
		if st, _, msg := r.json.host("web1"); st != "failed" || !strings.Contains(msg, "rolled back") {
			t.Errorf("web1: %s: %s", st, msg)
		}
		if plain.failed != 0 {
			t.Errorf("%d of %d requests failed: %v", plain.failed, plain.sent, plain.errs[:min(5, len(plain.errs))])
		}
		for _, h := range []string{"web1", "web2"} {
			out, _ := hostExec(t, s.c, h, "systemctl is-active foobar-app.socket; readlink /opt/foobar/current; curl -s 127.0.0.1:8080/version")
			if got := strings.Join(strings.Fields(out), " "); got != "active /opt/foobar/releases/2.1.0 2.1.0" {
				t.Errorf("%s after the rollback: %q, want \"active /opt/foobar/releases/2.1.0 2.1.0\"", h, got)
			}
		}
	})

	// Seconds per web server of a rolling upgrade under load on new
	// connections, three times: figures for the log, not a verdict (a
	// timing belongs to the bench).
	t.Run("seconds per server", func(t *testing.T) {
		plain := startLoad(t, s, 4)
		time.Sleep(time.Second)
		var per []string
		for _, v := range []string{"3.0.0", "3.0.1", "3.0.2"} {
			took := upgrade(t, v)
			per = append(per, fmt.Sprintf("%.1f", took.Seconds()/2))
		}
		plain.finish()
		t.Logf("rolling upgrade of 2 web servers (2 lb hosts) under load, seconds per server: %s; %d requests, %d failed",
			strings.Join(per, " "), plain.sent, plain.failed)
		if plain.failed != 0 {
			t.Errorf("%d of %d requests failed: %v", plain.failed, plain.sent, plain.errs[:min(5, len(plain.errs))])
		}
	})
}
