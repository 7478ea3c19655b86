package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// load sends continuous HTTPS requests for /version through both lb hosts,
// each on a new connection, and counts what comes back.
type load struct {
	mu       sync.Mutex
	sent     int
	failed   int
	versions []string // in arrival order
	errs     []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(t *testing.T, s *stackSite, workers int) *load {
	t.Helper()
	pem, err := os.ReadFile(s.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	l := &load{stop: make(chan struct{})}
	for i := 0; i < workers; i++ {
		lb := s.addr[[]string{"web1", "web2"}[i%2]]
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, net.JoinHostPort(lb, "443"))
			},
		}}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get("https://www.foobar.com/version")
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
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
					l.versions = append(l.versions, strings.TrimSpace(string(body)))
				}
				l.mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) finish() {
	close(l.stop)
	l.wg.Wait()
}

// TestRollingUpgradeUnderLoad upgrades the app on the deployed site while
// requests flow through both load balancers: none may fail. Then a broken
// release stops at the first server, which goes back to the old release.
func TestRollingUpgradeUnderLoad(t *testing.T) {
	s := newStackSite(t)
	if r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes"); r.code != 0 {
		t.Fatalf("deploying the site: exit %d\n%s", r.code, r.stdout)
	}
	eventually(t, 60*time.Second, "the site answering", func() (bool, string) {
		out, err := s.curlSite("web1")
		return err == nil, out
	})
	root, _ := testhosts.RepoRoot()
	appBin := filepath.Join(root, "bin", "foobar-app")
	version := func(host string) string {
		out, _ := hostExec(t, s.c, host, "readlink /opt/foobar/current; curl -s 127.0.0.1:8080/version")
		return strings.Join(strings.Fields(out), " ")
	}

	t.Run("upgrade under load: no failed request", func(t *testing.T) {
		l := startLoad(t, s, 6)
		// Kept connections too: the drain moves them to the other server
		// (nginx reloaded on the drained one) instead of waiting for them.
		keep := startKeepAliveLoad(t, s, 4)
		time.Sleep(2 * time.Second)
		start := time.Now()
		r := skiff(t, "apply", "-i", s.inv, "playbooks/upgrade.hcl", "-e", "app_version=2.0.0", "-e", "app_binary="+appBin, "--yes", "--output", "json")
		took := time.Since(start)
		time.Sleep(2 * time.Second)
		l.finish()
		keep.finish()
		t.Logf("rollout took %s; %d requests sent, %d failed", took.Round(100*time.Millisecond), l.sent, l.failed)
		keep.check(t, "upgrade")
		if r.code != 0 {
			t.Fatalf("upgrade: exit %d\n%s", r.code, r.stderr)
		}
		if l.failed != 0 {
			t.Errorf("%d of %d requests failed: %v", l.failed, l.sent, l.errs[:min(5, len(l.errs))])
		}
		if l.sent < 100 {
			t.Errorf("only %d requests sent", l.sent)
		}
		if l.versions[0] != "1.0.0" || l.versions[len(l.versions)-1] != "2.0.0" {
			t.Errorf("responses went from %s to %s, want 1.0.0 to 2.0.0", l.versions[0], l.versions[len(l.versions)-1])
		}
		for _, h := range []string{"web1", "web2"} {
			if got := version(h); got != "/opt/foobar/releases/2.0.0 2.0.0" {
				t.Errorf("%s: %s", h, got)
			}
		}
		// Nothing left to do: a rerun drains nothing and restarts nothing.
		r = skiff(t, "plan", "-i", s.inv, "playbooks/upgrade.hcl", "-e", "app_version=2.0.0", "-e", "app_binary="+appBin, "--detailed-exitcode")
		if r.code != 0 {
			t.Errorf("plan after the upgrade: exit %d\n%s", r.code, r.stdout)
		}
	})

	t.Run("a broken release stops at the first server, which goes back", func(t *testing.T) {
		broken := filepath.Join(t.TempDir(), "brokenapp")
		build := exec.Command("go", "build", "-o", broken, "./integration/testdata/brokenapp")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building brokenapp: %v\n%s", err, out)
		}
		l := startLoad(t, s, 6)
		time.Sleep(2 * time.Second)
		start := time.Now()
		r := skiff(t, "apply", "-i", s.inv, "playbooks/upgrade.hcl", "-e", "app_version=3.0.0", "-e", "app_binary="+broken,
			"-e", "verify_timeout=15s", "--yes", "--output", "json")
		took := time.Since(start)
		// Until HAProxy has the server UP again.
		eventually(t, 60*time.Second, "web1 UP again", func() (bool, string) {
			out, _ := hostExec(t, s.c, "web2", "printf 'show stat\\n' | nc -U -q 1 /run/haproxy/admin.sock | cut -d, -f1,2,18 | grep web_tls,web1")
			return strings.Contains(out, "UP") && !strings.Contains(out, "DRAIN"), out
		})
		l.finish()
		t.Logf("failed rollout took %s; %d requests sent, %d failed", took.Round(100*time.Millisecond), l.sent, l.failed)
		if r.code != 1 {
			t.Errorf("broken upgrade: exit %d, want 1", r.code)
		}
		st1, _, msg := r.json.host("web1")
		if st1 != "failed" || !strings.Contains(msg, "rolled back") {
			t.Errorf("web1: %s: %s", st1, msg)
		}
		if st2, _, msg2 := r.json.host("web2"); st2 != "failed" || !strings.Contains(msg2, "not run") {
			t.Errorf("web2: %s: %s (want not run: the rollout stops)", st2, msg2)
		}
		for _, h := range []string{"web1", "web2"} {
			if got := version(h); got != "/opt/foobar/releases/2.0.0 2.0.0" {
				t.Errorf("%s after the failed rollout: %s", h, got)
			}
		}
		if l.failed != 0 {
			t.Errorf("%d of %d requests failed: %v", l.failed, l.sent, l.errs[:min(5, len(l.errs))])
		}
		for _, v := range l.versions {
			if v != "2.0.0" {
				t.Errorf("a client saw version %q", v)
				break
			}
		}
	})

	t.Run("back to an earlier release: nothing uploaded", func(t *testing.T) {
		r := skiff(t, "apply", "-i", s.inv, "playbooks/upgrade.hcl", "-e", "app_version=1.0.0", "-e", "app_binary="+appBin, "--yes", "--output", "json")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		for _, h := range r.json.Hosts {
			for _, c := range h.Changes {
				if c.Task == "file.binary" || c.Task == "directory.release" {
					t.Errorf("%s: %s %s: the release was shipped again", h.Name, c.Task, c.Summary)
				}
			}
		}
		for _, h := range []string{"web1", "web2"} {
			if got := version(h); got != "/opt/foobar/releases/1.0.0 1.0.0" {
				t.Errorf("%s: %s", h, got)
			}
		}
	})
}
