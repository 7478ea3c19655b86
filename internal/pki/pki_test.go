package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/pki"
)

func mustOpen(t *testing.T, dir string) *pki.CA {
	t.Helper()
	ca, err := pki.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return ca
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no CERTIFICATE block in %q", data)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("unexpected data after the certificate: %q", rest)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestOpenCreatesOnceThenReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".skiff", "pki")
	ca := mustOpen(t, dir)

	if m := mode(t, dir); m != 0o700 {
		t.Errorf("pki dir mode %o, want 700", m)
	}
	if m := mode(t, filepath.Join(dir, "ca.key")); m != 0o600 {
		t.Errorf("ca.key mode %o, want 600", m)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, ca.CertPEM()) {
		t.Error("CertPEM differs from ca.crt")
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("ca.key is not a PKCS#8 PEM key")
	}

	c := parseCert(t, ca.CertPEM())
	host, _ := os.Hostname()
	switch {
	case !c.IsCA || !c.BasicConstraintsValid:
		t.Error("not a CA")
	case c.MaxPathLen != 0 || !c.MaxPathLenZero:
		t.Errorf("pathlen %d (zero=%v), want 0", c.MaxPathLen, c.MaxPathLenZero)
	case c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign:
		t.Errorf("key usage %v", c.KeyUsage)
	case c.Subject.CommonName != "skiff local CA ("+host+")":
		t.Errorf("CN %q", c.Subject.CommonName)
	case c.PublicKeyAlgorithm != x509.ECDSA:
		t.Errorf("key algorithm %v", c.PublicKeyAlgorithm)
	case c.NotAfter.Sub(c.NotBefore) < 10*365*24*time.Hour:
		t.Errorf("validity %v, want 10 years", c.NotAfter.Sub(c.NotBefore))
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}

	again := mustOpen(t, dir)
	if !bytes.Equal(again.CertPEM(), ca.CertPEM()) {
		t.Error("second Open changed the CA certificate")
	}
	keyAgain, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if !bytes.Equal(keyAgain, keyPEM) {
		t.Error("second Open changed the CA key")
	}
}

func TestOpenConcurrentAgree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	const n = 16
	certs := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ca, err := pki.Open(dir)
			if err != nil {
				t.Error(err)
				return
			}
			certs[i] = ca.CertPEM()
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(certs[i], certs[0]) {
			t.Fatalf("Open %d got a different CA than Open 0", i)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestOpenCompletesKeyWithoutCert(t *testing.T) {
	dir := t.TempDir()
	first := mustOpen(t, dir)
	// A crash between writing the key and the certificate leaves only the key.
	if err := os.Remove(filepath.Join(dir, "ca.crt")); err != nil {
		t.Fatal(err)
	}
	second := mustOpen(t, dir)
	a, b := parseCert(t, first.CertPEM()), parseCert(t, second.CertPEM())
	if !a.PublicKey.(*ecdsa.PublicKey).Equal(b.PublicKey) {
		t.Error("new certificate does not use the kept key")
	}
}

func TestOpenRejectsForeignCert(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	mustOpen(t, a)
	mustOpen(t, b)
	data, err := os.ReadFile(filepath.Join(b, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, "ca.crt"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Open(a); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("Open with a foreign ca.crt: err = %v", err)
	}
}

func TestIssueVerifiesAgainstCA(t *testing.T) {
	dir := t.TempDir()
	ca := mustOpen(t, dir)
	dns := []string{"www.foobar.com", "foobar.com"}
	certPEM, keyPEM, err := ca.Issue("web1", dns, []string{"10.0.0.5", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := parseCert(t, certPEM)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	for _, name := range append(dns, "10.0.0.5", "::1") {
		_, err := leaf.Verify(x509.VerifyOptions{
			DNSName:   name,
			Roots:     roots,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "evil.com", Roots: roots}); err == nil {
		t.Error("leaf verifies for a name it does not carry")
	}
	if leaf.Subject.CommonName != "www.foobar.com" {
		t.Errorf("CN %q, want the first DNS name", leaf.Subject.CommonName)
	}
	if leaf.IsCA {
		t.Error("leaf is a CA")
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("key usage %v", leaf.KeyUsage)
	}
	if got := time.Until(leaf.NotAfter); got < 396*24*time.Hour || got > 397*24*time.Hour {
		t.Errorf("leaf valid for %v more, want about 397 days", got)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Error("key is not PKCS#8 PEM")
	}
	if m := mode(t, filepath.Join(dir, "issued", "web1.key")); m != 0o600 {
		t.Errorf("issued key mode %o, want 600", m)
	}
	onDisk, _ := os.ReadFile(filepath.Join(dir, "issued", "web1.crt"))
	if !bytes.Equal(onDisk, certPEM) {
		t.Error("returned certificate differs from issued/web1.crt")
	}
}

func TestIssueKeepsMatchingPair(t *testing.T) {
	dir := t.TempDir()
	ca := mustOpen(t, dir)
	c1, k1, err := ca.Issue("web", []string{"a.example", "b.example"}, []string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	// Same SANs in another order, with a duplicate, from a fresh Open.
	ca2 := mustOpen(t, dir)
	c2, k2, err := ca2.Issue("web", []string{"b.example", "a.example", "a.example"}, []string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c1, c2) || !bytes.Equal(k1, k2) {
		t.Error("rerun with the same SANs reissued the certificate")
	}
}

func TestIssueReissues(t *testing.T) {
	base := time.Now()
	tests := []struct {
		name   string
		dns    []string
		ips    []string
		after  time.Duration // clock advance before the second Issue
		tamper func(t *testing.T, dir string)
		reuse  bool
	}{
		{name: "same", dns: []string{"a.example"}, ips: []string{"10.0.0.1"}, reuse: true},
		{name: "31 days left", dns: []string{"a.example"}, ips: []string{"10.0.0.1"}, after: 366 * 24 * time.Hour, reuse: true},
		{name: "29 days left", dns: []string{"a.example"}, ips: []string{"10.0.0.1"}, after: 368 * 24 * time.Hour},
		{name: "expired", dns: []string{"a.example"}, ips: []string{"10.0.0.1"}, after: 400 * 24 * time.Hour},
		{name: "DNS name added", dns: []string{"a.example", "c.example"}, ips: []string{"10.0.0.1"}},
		{name: "DNS name removed", dns: []string{}, ips: []string{"10.0.0.1"}},
		{name: "IP changed", dns: []string{"a.example"}, ips: []string{"10.0.0.2"}},
		{name: "IP removed", dns: []string{"a.example"}, ips: nil},
		{name: "key replaced", dns: []string{"a.example"}, ips: []string{"10.0.0.1"}, tamper: func(t *testing.T, dir string) {
			other := mustOpen(t, t.TempDir())
			_, k, err := other.Issue("x", []string{"a.example"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "issued", "web.key"), k, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "signed by another CA", dns: []string{"a.example"}, ips: []string{"10.0.0.1"}, tamper: func(t *testing.T, dir string) {
			other := mustOpen(t, t.TempDir())
			c, k, err := other.Issue("x", []string{"a.example"}, []string{"10.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "issued", "web.crt"), c, 0o644)
			os.WriteFile(filepath.Join(dir, "issued", "web.key"), k, 0o600)
		}},
		{name: "garbage on disk", dns: []string{"a.example"}, ips: []string{"10.0.0.1"}, tamper: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "issued", "web.crt"), []byte("junk"), 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := mustOpen(t, dir)
			now := base
			ca.Now = func() time.Time { return now }
			c1, k1, err := ca.Issue("web", []string{"a.example"}, []string{"10.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			if tt.tamper != nil {
				tt.tamper(t, dir)
			}
			now = base.Add(tt.after)
			c2, k2, err := ca.Issue("web", tt.dns, tt.ips)
			if err != nil {
				t.Fatal(err)
			}
			same := bytes.Equal(c1, c2) && bytes.Equal(k1, k2)
			if same != tt.reuse {
				t.Fatalf("reused = %v, want %v", same, tt.reuse)
			}
			if tt.reuse {
				return
			}
			leaf := parseCert(t, c2)
			if bytes.Equal(k1, k2) {
				t.Error("reissued certificate kept the old key")
			}
			if want := now.Add(397 * 24 * time.Hour); !leaf.NotAfter.Equal(want.Truncate(time.Second)) {
				t.Errorf("NotAfter %v, want %v", leaf.NotAfter, want)
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca.Certificate())
			for _, name := range append(tt.dns, tt.ips...) {
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now}); err != nil {
					t.Errorf("verify %s: %v", name, err)
				}
			}
			// The replacement is what is kept now.
			c3, k3, err := ca.Issue("web", tt.dns, tt.ips)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c2, c3) || !bytes.Equal(k2, k3) {
				t.Error("the reissued pair was not kept")
			}
		})
	}
}

func TestIssueConcurrent(t *testing.T) {
	dir := t.TempDir()
	ca := mustOpen(t, dir)
	const n = 20
	certs, keys := make([][]byte, n), make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, k, err := ca.Issue("web", []string{"a.example"}, []string{"10.0.0.1"})
			if err != nil {
				t.Error(err)
				return
			}
			certs[i], keys[i] = c, k
		})
	}
	wg.Wait()
	diskCert, _ := os.ReadFile(filepath.Join(dir, "issued", "web.crt"))
	diskKey, _ := os.ReadFile(filepath.Join(dir, "issued", "web.key"))
	for i := range n {
		if !bytes.Equal(certs[i], diskCert) || !bytes.Equal(keys[i], diskKey) {
			t.Fatalf("goroutine %d got a pair other than the one kept on disk", i)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "issued", ".tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestIssueRejects(t *testing.T) {
	ca := mustOpen(t, t.TempDir())
	tests := []struct {
		name, certName string
		dns, ips       []string
		want           string
	}{
		{"path in name", "../x", []string{"a"}, nil, "certificate name"},
		{"empty name", "", []string{"a"}, nil, "empty"},
		{"no SANs", "x", nil, nil, "no DNS names or IP addresses"},
		{"bad IP", "x", []string{"a"}, []string{"10.0.0"}, `invalid IP address "10.0.0"`},
		{"bad DNS", "x", []string{"a b"}, nil, "invalid DNS name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ca.Issue(tt.certName, tt.dns, tt.ips)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
