package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

const domain = "www.foobar.com"

// shared ends every "obtain" line: one order serves every host of the run.
const shared = " (one order for every host that installs it)"

// selfSigned is a certificate for names that expires at notAfter, and its key.
func selfSigned(t *testing.T, notAfter time.Time, names ...string) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

type fixture struct {
	state, hostDir string
	now            time.Time
}

func newFixture(t *testing.T) *fixture {
	return &fixture{state: filepath.Join(t.TempDir(), "acme"), hostDir: t.TempDir(), now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
}

func (f *fixture) build(t *testing.T, vals map[string]cty.Value) *Cert {
	t.Helper()
	args := map[string]cty.Value{
		"domain":          cty.StringVal(domain),
		"directory_url":   cty.StringVal("https://acme.test/dir"),
		"challenge_hosts": cty.TupleVal([]cty.Value{cty.StringVal("web1")}),
		"cert_path":       cty.StringVal(filepath.Join(f.hostDir, "site.crt")),
		"key_path":        cty.StringVal(filepath.Join(f.hostDir, "site.key")),
	}
	for k, v := range vals {
		args[k] = v
	}
	c := moduletest.MustBuild(t, Factory(f.state), moduletest.Args("acme_certificate", "site", args)).(*Cert)
	c.now = func() time.Time { return f.now }
	return c
}

func summary(ch *module.Change) string {
	if ch == nil {
		return ""
	}
	return ch.Summary
}

// TestCheckFromLocalState: what the plan says, from the certificate kept
// locally and the host's files only.
func TestCheckFromLocalState(t *testing.T) {
	f := newFixture(t)
	if got, want := summary(moduletest.Check(t, f.build(t, nil))), "obtain certificate for www.foobar.com from https://acme.test/dir"+shared; got != want {
		t.Errorf("nothing kept: %q, want %q", got, want)
	}
	cert, key := selfSigned(t, f.now.Add(60*24*time.Hour+time.Hour), domain)
	if err := writeLocal(f.state, domain, "https://acme.test/dir", cert, key); err != nil {
		t.Fatal(err)
	}
	if got, want := summary(moduletest.Check(t, f.build(t, nil))), "install certificate for www.foobar.com (expires in 60 days)"; got != want {
		t.Errorf("kept, not on the host: %q, want %q", got, want)
	}
	os.WriteFile(filepath.Join(f.hostDir, "site.crt"), cert, 0o644)
	os.WriteFile(filepath.Join(f.hostDir, "site.key"), key, 0o600)
	if ch := moduletest.Check(t, f.build(t, nil)); ch != nil {
		t.Errorf("fresh and installed: %q, want nothing", ch.Summary)
	}
	if got, want := summary(moduletest.Check(t, f.build(t, map[string]cty.Value{"renew_before": cty.StringVal("61d")}))), "renew certificate for www.foobar.com (expires in 60 days)"; got != want {
		t.Errorf("within renew_before: %q, want %q", got, want)
	}
	if got, want := summary(moduletest.Check(t, f.build(t, map[string]cty.Value{"directory_url": cty.StringVal("https://other.test/dir")}))), "obtain certificate for www.foobar.com from https://other.test/dir"+shared; got != want {
		t.Errorf("another directory: %q, want %q", got, want)
	}
	if got, want := summary(moduletest.Check(t, f.build(t, map[string]cty.Value{"domain": cty.StringVal("foobar.com")}))), "obtain certificate for foobar.com from https://acme.test/dir"+shared; got != want {
		t.Errorf("another domain: %q, want %q", got, want)
	}
	f.now = f.now.Add(31 * 24 * time.Hour) // 29 days left: within the default 30
	if got, want := summary(moduletest.Check(t, f.build(t, nil))), "renew certificate for www.foobar.com (expires in 29 days)"; got != want {
		t.Errorf("default renew_before: %q, want %q", got, want)
	}
	if ch := moduletest.Check(t, f.build(t, nil)); ch == nil || !ch.Sensitive || ch.Diff != "" {
		t.Errorf("change %+v: want sensitive, no diff", ch)
	}
}

// TestApplyInstallsKept: a fresh kept certificate is installed (key 0600)
// without any ACME server (none is reachable at acme.test).
func TestApplyInstallsKept(t *testing.T) {
	f := newFixture(t)
	f.now = time.Now()
	cert, key := selfSigned(t, f.now.Add(60*24*time.Hour), domain)
	if err := writeLocal(f.state, domain, "https://acme.test/dir", cert, key); err != nil {
		t.Fatal(err)
	}
	ch := moduletest.Converge(t, func() module.Module {
		c := f.build(t, nil)
		return c
	})
	if !strings.HasPrefix(ch.Summary, "install certificate") {
		t.Errorf("change %q", ch.Summary)
	}
	st, err := os.Stat(filepath.Join(f.hostDir, "site.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("site.key: %v %v, want 0600", err, st)
	}
}

// TestStateIsPrivate: folders 0700, files 0600, whatever the umask.
func TestStateIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "acme")
	if _, err := accountKey(dir); err != nil {
		t.Fatal(err)
	}
	cert, key := selfSigned(t, time.Now().Add(time.Hour), domain)
	if err := writeLocal(dir, domain, "https://acme.test/dir", cert, key); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		dir: 0o700, filepath.Join(dir, domain): 0o700,
		filepath.Join(dir, "account.key"): 0o600, filepath.Join(dir, domain, "key.pem"): 0o600,
		filepath.Join(dir, domain, "cert.pem"): 0o600, filepath.Join(dir, domain, "directory"): 0o600,
	} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v, want %v", p, err, want)
		}
	}
	k1, _ := accountKey(dir)
	k2, _ := accountKey(dir)
	if !k1.Equal(k2) {
		t.Error("the account key is not kept")
	}
}

// refusingACME is an ACME directory that refuses every new account with
// the problem document given.
func refusingACME(t *testing.T, problem map[string]any) *httptest.Server {
	var mu sync.Mutex
	n := 0
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		w.Header().Set("Replay-Nonce", fmt.Sprintf("nonce%d", n))
		mu.Unlock()
		switch r.URL.Path {
		case "/dir":
			json.NewEncoder(w).Encode(map[string]string{
				"newNonce": srv.URL + "/nonce", "newAccount": srv.URL + "/account", "newOrder": srv.URL + "/order",
				"revokeCert": srv.URL + "/revoke", "keyChange": srv.URL + "/key",
			})
		case "/nonce":
			w.WriteHeader(http.StatusOK)
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(problem["status"].(int))
			json.NewEncoder(w).Encode(problem)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// recorder is a transport that records scripts and answers as HAProxy's
// runtime API does to an accepted command: nothing.
type recorder struct {
	transporttest.Local
	host    string
	scripts *[]string
}

func (r *recorder) Run(_ context.Context, script string) (transport.Result, error) {
	*r.scripts = append(*r.scripts, r.host+": "+script)
	return transport.Result{}, nil
}

// TestTokensThroughHAProxy: a token is added to, then deleted from, the
// challenge map of every challenge host, and nothing but base64url is sent.
func TestTokensThroughHAProxy(t *testing.T) {
	var scripts []string
	p := &tokens{hosts: []string{"web1", "web2"}, conns: func(_ context.Context, h string) (transport.Transport, error) {
		return &recorder{host: h, scripts: &scripts}, nil
	}}
	if err := p.Present(context.Background(), domain, "tok_EN-1", "tok_EN-1.thumb"); err != nil {
		t.Fatal(err)
	}
	if err := p.CleanUp(context.Background(), domain, "tok_EN-1", "tok_EN-1.thumb"); err != nil {
		t.Fatal(err)
	}
	want := []string{"web1: add map " + ChallengeMap + " tok_EN-1 tok_EN-1.thumb", "web2: add map", "web1: del map " + ChallengeMap + " tok_EN-1", "web2: del map"}
	if len(scripts) != len(want) {
		t.Fatalf("%d scripts, want %d", len(scripts), len(want))
	}
	for i, w := range want {
		host, cmd, _ := strings.Cut(w, ": ")
		if !strings.HasPrefix(scripts[i], host+": ") || !strings.Contains(scripts[i], cmd) {
			t.Errorf("script %d does not %q:\n%s", i, w, scripts[i])
		}
	}
	if err := p.Present(context.Background(), domain, "tok; reboot", "x"); err == nil {
		t.Error("a token with a shell or runtime API metacharacter was placed")
	}
	p.conns = func(_ context.Context, h string) (transport.Transport, error) {
		return nil, fmt.Errorf("%s is not a host of this run", h)
	}
	if err := p.Present(context.Background(), domain, "t", "t.k"); err == nil || !strings.Contains(err.Error(), "web2 is not a host of this run") {
		t.Errorf("unreachable challenge host: %v", err)
	}
}

func TestParseDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "0d": 0, "720h": 720 * time.Hour} {
		if got, err := ParseDays(in); err != nil || got != want {
			t.Errorf("ParseDays(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "30 days", "-5h"} {
		if _, err := ParseDays(in); err == nil {
			t.Errorf("ParseDays(%q) accepted", in)
		}
	}
}

// TestOneIssuancePerRun: once this process obtained the certificate, the
// other hosts' tasks install it, even when renew_before is longer than it
// lasts (each would otherwise obtain its own).
func TestOneIssuancePerRun(t *testing.T) {
	f := newFixture(t)
	cert, key := selfSigned(t, f.now.Add(10*24*time.Hour+time.Hour), domain)
	if err := writeLocal(f.state, domain, "https://acme.test/dir", cert, key); err != nil {
		t.Fatal(err)
	}
	long := map[string]cty.Value{"renew_before": cty.StringVal("20d")}
	if got := summary(moduletest.Check(t, f.build(t, long))); !strings.HasPrefix(got, "renew certificate") {
		t.Fatalf("before: %q, want a renewal", got)
	}
	markIssued(f.state, domain, cert) // as ensure does after obtaining it
	if got, want := summary(moduletest.Check(t, f.build(t, long))), "install certificate for www.foobar.com (expires in 10 days)"; got != want {
		t.Errorf("obtained by this run: %q, want %q", got, want)
	}
	other, _ := selfSigned(t, f.now.Add(10*24*time.Hour), domain)
	if err := writeLocal(f.state, domain, "https://acme.test/dir", other, key); err != nil {
		t.Fatal(err)
	}
	if got := summary(moduletest.Check(t, f.build(t, long))); !strings.HasPrefix(got, "renew certificate") {
		t.Errorf("a certificate this run did not obtain: %q, want a renewal", got)
	}
}
