package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/skiffdeploy/skiff/integration/testhosts"
	"github.com/skiffdeploy/skiff/internal/module/acme"
	"github.com/skiffdeploy/skiff/internal/module/haproxy"
)

// pebble is Let's Encrypt's test ACME server, run in this process: its
// directory on a loopback TLS listener, its validation authority resolving
// names through a DNS server the test controls, and a count of the
// requests the directory answered.
type pebble struct {
	dirURL, caFile string
	root           *x509.Certificate // from the management interface
	dns            *challtestsrv.ChallSrv
	requests       atomic.Int64
}

func startPebble(t *testing.T, validity time.Duration) *pebble {
	t.Helper()
	// No random wait before validating, no authorisation reused (each
	// order validates again), no nonce refused on purpose.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(os.Stderr, "pebble: ", log.LstdFlags)
	}

	dnsAddr := freeLoopback(t)
	dns, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{dnsAddr}, Log: logger})
	if err != nil {
		t.Fatal(err)
	}
	dns.SetDefaultDNSIPv4("")
	dns.SetDefaultDNSIPv6("")
	go dns.Run()
	t.Cleanup(dns.Shutdown)

	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "short-lived", ValidityPeriod: uint64(validity / time.Second)},
	})
	validator := va.New(logger, 80, 443, false, dnsAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 3, 5)

	p := &pebble{dns: dns}
	api := front.Handler()
	dir := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		api.ServeHTTP(w, r)
	}))
	dir.StartTLS()
	t.Cleanup(dir.Close)
	p.dirURL = dir.URL + "/dir"
	p.caFile = filepath.Join(t.TempDir(), "pebble-tls.crt")
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: dir.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	mgmt := httptest.NewTLSServer(front.ManagementHandler())
	t.Cleanup(mgmt.Close)
	resp, err := mgmt.Client().Get(mgmt.URL + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	block, _ := pem.Decode(body)
	if block == nil {
		t.Fatalf("Pebble's root: %s", body)
	}
	if p.root, err = x509.ParseCertificate(block.Bytes); err != nil {
		t.Fatal(err)
	}
	return p
}

// freeLoopback returns a free 127.0.0.1 port (UDP and TCP, for DNS).
func freeLoopback(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free loopback port for DNS")
	return ""
}

// servedLeaf connects to addr:443 as a browser would for domain,
// trusting only root, and returns the certificate served (verified:
// chains to root and names domain).
func servedLeaf(addr, domain string, root *x509.Certificate) (*x509.Certificate, error) {
	pool := x509.NewCertPool()
	pool.AddCert(root)
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(addr, "443"), &tls.Config{ServerName: domain, RootCAs: pool})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// TestACMEWithPebble deploys the site with its certificate from Pebble on
// the smallest stack with an lb and a web server (web1, both; db1 and db2
// for the app): HTTP-01 through HAProxy's :80, the certificate served
// through the lb, nothing asked of the ACME server while it is fresh,
// renewal, and refusals that leave the serving certificate in place.
func TestACMEWithPebble(t *testing.T) {
	names := []string{"web1", "db1", "db2"}
	_, groups := testhosts.SiteHosts()
	delete(groups, "web2")
	c := startCluster(t, names, nil)
	root, _ := testhosts.RepoRoot()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const domain = "www.foobar.com"
	web1, _ := c.Host("web1")

	p := startPebble(t, 10*24*time.Hour)
	p.dns.AddDNSARecord(domain, []string{web1.Address})

	extra, err := c.SiteSettings(ctx, root, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	vars := fmt.Sprintf("    domain       = %q\n    acme_directory_url = %q\n    acme_email = \"ops@foobar.com\"\n    acme_directory_ca_file = %q\n    acme_renew_before = \"3d\"\n", domain, p.dirURL, p.caFile)
	extra = strings.Replace(extra, fmt.Sprintf("    domain       = %q\n", domain), vars, 1)
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, groups, extra); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, ".skiff", "acme")
	apply := func(t *testing.T, args ...string) run {
		t.Helper()
		return skiff(t, append([]string{"apply", "-i", inv, "playbooks/site.hcl", "--yes", "--output", "json"}, args...)...)
	}
	noSecretsIn := func(t *testing.T, r run) {
		t.Helper()
		if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
			t.Errorf("skiff printed a private key")
		}
	}

	r := skiff(t, "plan", "-i", inv, "playbooks/site.hcl")
	if want := "obtain certificate for " + domain + " from " + p.dirURL; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("plan: exit %d, want %q in:\n%s\n%s", r.code, want, r.stdout, r.stderr)
	}
	r = apply(t)
	noSecretsIn(t, r)
	if r.code != 0 || r.json.Summary.Failed+r.json.Summary.Unreachable != 0 {
		t.Fatalf("apply: exit %d, summary %+v\n%s", r.code, r.json.Summary, r.stderr)
	}
	var first *x509.Certificate
	eventually(t, 60*time.Second, "the site through the lb with Pebble's certificate", func() (bool, string) {
		leaf, err := servedLeaf(web1.Address, domain, p.root)
		if err != nil {
			return false, err.Error()
		}
		first = leaf
		return true, ""
	})
	if err := first.VerifyHostname(domain); err != nil {
		t.Errorf("served certificate: %v", err)
	}

	t.Run("state kept private beside the inventory", func(t *testing.T) {
		for _, p := range []string{state, filepath.Join(state, domain)} {
			if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("%s: %v, mode %v, want 0700", p, err, st.Mode().Perm())
			}
		}
		for _, p := range []string{filepath.Join(state, "account.key"), filepath.Join(state, domain, "key.pem"), filepath.Join(state, domain, "cert.pem")} {
			if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, want 0600", p, err)
			}
		}
		if out, code := hostExec(t, c, "web1", "stat -c '%U %a' /etc/nginx/tls/site.key"); code != 0 || strings.TrimSpace(out) != "root 600" {
			t.Errorf("site.key on web1: %q (exit %d), want root 600", out, code)
		}
	})

	t.Run("port 80 answers placed tokens only, redirects the rest, keeps none", func(t *testing.T) {
		// The token of the issuance was deleted: the map answers nothing.
		if out, code := hostExec(t, c, "web1", haproxy.RuntimeScript(acme.HAProxySocket, "show map "+acme.ChallengeMap)); code != 0 {
			t.Errorf("tokens left in HAProxy's challenge map after the apply: %s", out)
		}
		if out, code := hostExec(t, c, "web1", haproxy.RuntimeScript(acme.HAProxySocket, "add map "+acme.ChallengeMap+" tok123 tok123.thumb")); code != 0 {
			t.Fatalf("add map: %s", out)
		}
		defer hostExec(t, c, "web1", haproxy.RuntimeScript(acme.HAProxySocket, "del map "+acme.ChallengeMap+" tok123"))
		get := func(path string) (int, string, string) {
			t.Helper()
			client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			req, _ := http.NewRequest("GET", "http://"+web1.Address+path, nil)
			req.Host = domain
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b), resp.Header.Get("Location")
		}
		if code, body, _ := get("/.well-known/acme-challenge/tok123"); code != 200 || body != "tok123.thumb" {
			t.Errorf("a placed token: %d %q, want 200 with its key authorisation", code, body)
		}
		for _, p := range []string{"/.well-known/acme-challenge/other", "/", "/.well-known/acme-challenge/"} {
			if code, _, loc := get(p); code != 301 || loc != "https://"+domain+p {
				t.Errorf("GET %s on :80: %d to %q, want 301 to https", p, code, loc)
			}
		}
	})

	t.Run("a second apply changes nothing and asks Pebble nothing", func(t *testing.T) {
		before := p.requests.Load()
		r := apply(t)
		if r.code != 0 || r.json.Summary.Changed != 0 {
			for _, h := range r.json.Hosts {
				for _, ch := range h.Changes {
					t.Logf("%s changed %s/%s %s: %s", h.Name, ch.Play, ch.Role, ch.Task, ch.Summary)
				}
			}
			t.Errorf("second apply: exit %d, summary %+v", r.code, r.json.Summary)
		}
		if n := p.requests.Load() - before; n != 0 {
			t.Errorf("the second apply sent %d requests to the ACME server, want none", n)
		}
		r = skiff(t, "plan", "-i", inv, "playbooks/site.hcl")
		if strings.Contains(r.stdout, "certificate for") {
			t.Errorf("plan of a fresh certificate mentions it:\n%s", r.stdout)
		}
	})

	renewSoon := "acme_renew_before=20d" // more than the 10 days Pebble's certificates last
	t.Run("a certificate about to expire is renewed", func(t *testing.T) {
		r := skiff(t, "plan", "-i", inv, "playbooks/site.hcl", "-e", renewSoon)
		if want := "renew certificate for " + domain + " (expires in 9 days)"; !strings.Contains(r.stdout, want) {
			t.Fatalf("plan: want %q in:\n%s", want, r.stdout)
		}
		r = apply(t, "-e", renewSoon)
		noSecretsIn(t, r)
		if r.code != 0 {
			t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
		}
		eventually(t, 30*time.Second, "the renewed certificate served", func() (bool, string) {
			leaf, err := servedLeaf(web1.Address, domain, p.root)
			if err != nil {
				return false, err.Error()
			}
			return leaf.SerialNumber.Cmp(first.SerialNumber) != 0, "serial " + leaf.SerialNumber.String()
		})
	})

	t.Run("a rollback serves the certificate from before the renewal", func(t *testing.T) {
		r := skiff(t, "rollback", "-i", inv, "--yes")
		noSecretsIn(t, r)
		if r.code != 0 {
			t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
		}
		eventually(t, 30*time.Second, "the certificate from before the renewal served", func() (bool, string) {
			leaf, err := servedLeaf(web1.Address, domain, p.root)
			if err != nil {
				return false, err.Error()
			}
			return leaf.SerialNumber.Cmp(first.SerialNumber) == 0, "serial " + leaf.SerialNumber.String()
		})
		// The renewed certificate is still kept: installing it again asks
		// Pebble nothing.
		r = skiff(t, "plan", "-i", inv, "playbooks/site.hcl")
		if want := "install certificate for " + domain; !strings.Contains(r.stdout, want) {
			t.Errorf("plan after the rollback: want %q in:\n%s", want, r.stdout)
		}
		before := p.requests.Load()
		if r = apply(t); r.code != 0 {
			t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
		}
		if n := p.requests.Load() - before; n != 0 {
			t.Errorf("installing the kept certificate sent %d requests to the ACME server, want none", n)
		}
		eventually(t, 30*time.Second, "the renewed certificate served again", func() (bool, string) {
			leaf, err := servedLeaf(web1.Address, domain, p.root)
			if err != nil {
				return false, err.Error()
			}
			return leaf.SerialNumber.Cmp(first.SerialNumber) != 0, "serial " + leaf.SerialNumber.String()
		})
	})

	// refused applies the renewal while Pebble refuses and checks that the
	// run fails with the server's detail while the certificate served stays.
	refused := func(t *testing.T, detail string, args ...string) {
		t.Helper()
		serving, err := servedLeaf(web1.Address, domain, p.root)
		if err != nil {
			t.Fatal(err)
		}
		r := apply(t, append([]string{"-e", renewSoon}, args...)...)
		noSecretsIn(t, r)
		if r.code != 1 {
			t.Errorf("apply: exit %d, want 1", r.code)
		}
		_, _, herr := r.json.host("web1")
		if !strings.Contains(r.stderr+herr, detail) {
			t.Errorf("want the server's detail %q in:\n%s\n%s", detail, herr, r.stderr)
		}
		now, err := servedLeaf(web1.Address, domain, p.root)
		if err != nil || now.SerialNumber.Cmp(serving.SerialNumber) != 0 {
			t.Errorf("after the refusal: %v, serial %v, want the one served before (%v)", err, now.SerialNumber, serving.SerialNumber)
		}
	}
	t.Run("a failed challenge leaves the certificate serving", func(t *testing.T) {
		p.dns.DeleteDNSARecord(domain)
		defer p.dns.AddDNSARecord(domain, []string{web1.Address})
		refused(t, "urn:ietf:params:acme:error:")
	})
	t.Run("a refused account leaves the certificate serving", func(t *testing.T) {
		// A new account (a known key would be found, not created).
		if err := os.Rename(filepath.Join(state, "account.key"), filepath.Join(state, "account.key.kept")); err != nil {
			t.Fatal(err)
		}
		refused(t, `contact email "not an address" is invalid`, "-e", "acme_email=not an address")
	})
}

// TestACMETwoLoadBalancersUnderLoad deploys the site with ACME on both lb
// hosts and web servers (web1 and web2, each both; db1 and db2 for the
// app), with the domain resolving to web2 while web1's task, the first of
// the one-at-a-time web play, asks for the certificate: the token must be
// answered by every lb. Both lbs then serve Pebble's certificate from
// both web servers, and a renewal under continuous requests through both
// lbs fails none and leaves every web server serving the new certificate.
func TestACMETwoLoadBalancersUnderLoad(t *testing.T) {
	names, groups := testhosts.SiteHosts()
	c := startCluster(t, names, nil)
	root, _ := testhosts.RepoRoot()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const domain = "www.foobar.com"
	addr := map[string]string{}
	for _, n := range []string{"web1", "web2"} {
		h, _ := c.Host(n)
		addr[n] = h.Address
	}

	p := startPebble(t, 10*24*time.Hour)
	p.dns.AddDNSARecord(domain, []string{addr["web2"]})

	extra, err := c.SiteSettings(ctx, root, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	vars := fmt.Sprintf("    domain       = %q\n    acme_directory_url = %q\n    acme_email = \"ops@foobar.com\"\n    acme_directory_ca_file = %q\n    acme_renew_before = \"3d\"\n", domain, p.dirURL, p.caFile)
	extra = strings.Replace(extra, fmt.Sprintf("    domain       = %q\n", domain), vars, 1)
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, groups, extra); err != nil {
		t.Fatal(err)
	}
	rootFile := filepath.Join(dir, "pebble-root.crt")
	if err := os.WriteFile(rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	kept := func(t *testing.T) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, ".skiff", "acme", domain, "cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return leaf.SerialNumber.String()
	}
	// everyServer checks that every web server, through every lb, serves
	// the certificate with serial want (HAProxy alternates the servers).
	everyServer := func(t *testing.T, want string) {
		t.Helper()
		for _, lb := range []string{"web1", "web2"} {
			eventually(t, 30*time.Second, "the kept certificate through "+lb, func() (bool, string) {
				for range 4 {
					leaf, err := servedLeaf(addr[lb], domain, p.root)
					if err != nil {
						return false, err.Error()
					}
					if got := leaf.SerialNumber.String(); got != want {
						return false, "serial " + got
					}
				}
				return true, ""
			})
		}
		serial, _ := new(big.Int).SetString(want, 10)
		for _, web := range []string{"web1", "web2"} {
			out, code := hostExec(t, c, web, "openssl x509 -noout -serial -in /etc/nginx/tls/site.crt")
			got := strings.TrimLeft(strings.TrimPrefix(strings.TrimSpace(out), "serial="), "0")
			if code != 0 || got != fmt.Sprintf("%X", serial) {
				t.Errorf("%s's site.crt: %q (exit %d), want serial %X", web, out, code, serial)
			}
		}
	}

	r := skiff(t, "apply", "-i", inv, "playbooks/site.hcl", "--yes")
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stdout)
	}
	first := kept(t)
	everyServer(t, first)

	t.Run("renewal under load: no failed request, every server renewed", func(t *testing.T) {
		l := startLoad(t, &stackSite{ca: rootFile, addr: addr}, 4)
		r := skiff(t, "apply", "-i", inv, "playbooks/site.hcl", "--yes", "-e", "acme_renew_before=20d")
		time.Sleep(2 * time.Second) // requests after the last reload too
		l.finish()
		if r.code != 0 {
			t.Fatalf("apply: exit %d\n%s", r.code, r.stdout)
		}
		renewed := kept(t)
		if renewed == first {
			t.Fatal("the certificate kept was not renewed")
		}
		if l.sent == 0 || l.failed != 0 {
			n := min(len(l.errs), 5)
			t.Errorf("%d of %d requests failed during the renewal: %v", l.failed, l.sent, l.errs[:n])
		}
		t.Logf("%d requests during the renewal, %d failed", l.sent, l.failed)
		everyServer(t, renewed)
	})
}
