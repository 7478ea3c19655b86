package acme

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func names(vs ...string) cty.Value {
	var l []cty.Value
	for _, v := range vs {
		l = append(l, cty.StringVal(v))
	}
	return cty.TupleVal(l)
}

// TestAltNames: a certificate carries domain and alt_names, exactly: a
// name added or dropped asks for a new one, and bad names are refused.
func TestAltNames(t *testing.T) {
	f := newFixture(t)
	cert, key := selfSigned(t, f.now.Add(60*24*time.Hour+time.Hour), domain, "foobar.com")
	if err := writeLocal(f.state, domain, "https://acme.test/dir", cert, key); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.hostDir, "site.crt"), cert, 0o644)
	os.WriteFile(filepath.Join(f.hostDir, "site.key"), key, 0o600)
	if ch := moduletest.Check(t, f.build(t, map[string]cty.Value{"alt_names": names("FOOBAR.com")})); ch != nil {
		t.Errorf("the names kept: %q, want nothing", ch.Summary)
	}
	if got, want := summary(moduletest.Check(t, f.build(t, map[string]cty.Value{"alt_names": names("foobar.com", "api.foobar.com")}))),
		"obtain certificate for www.foobar.com, foobar.com, api.foobar.com from https://acme.test/dir"+shared; got != want {
		t.Errorf("a name added: %q, want %q", got, want)
	}
	if got, want := summary(moduletest.Check(t, f.build(t, nil))), "obtain certificate for www.foobar.com from https://acme.test/dir"+shared; got != want {
		t.Errorf("a name dropped: %q, want %q", got, want)
	}
	for _, bad := range []struct {
		names cty.Value
		want  string
	}{
		{names("foobar.com", "foobar.com"), `"foobar.com" is named twice`},
		{names("WWW.foobar.com"), `"WWW.foobar.com" is named twice`},
		{names("foo bar"), `"foo bar" is not a DNS name`},
	} {
		_, diags := moduletest.Build(Factory(f.state), moduletest.Args("acme_certificate", "site", map[string]cty.Value{
			"domain": cty.StringVal(domain), "directory_url": cty.StringVal("https://acme.test/dir"), "alt_names": bad.names,
			"challenge_hosts": names("lb1"), "cert_path": cty.StringVal("/etc/site.crt"), "key_path": cty.StringVal("/etc/site.key"),
		}))
		if !strings.Contains(diags.Error(), bad.want) {
			t.Errorf("alt_names %#v: %v, want %q", bad.names, diags, bad.want)
		}
	}
}

// TestRollbackRestoresHostFiles: undo puts back the certificate and key
// the host served before (or removes them when there were none); the
// certificate kept locally is left for the next plan to install.
func TestRollbackRestoresHostFiles(t *testing.T) {
	for _, before := range []string{"served", "none"} {
		t.Run(before, func(t *testing.T) {
			f := newFixture(t)
			f.now = time.Now()
			crt, keyPath := filepath.Join(f.hostDir, "site.crt"), filepath.Join(f.hostDir, "site.key")
			oldCert, oldKey := selfSigned(t, f.now.Add(5*24*time.Hour), domain)
			if before == "served" {
				os.WriteFile(crt, oldCert, 0o644)
				os.WriteFile(keyPath, oldKey, 0o600)
			}
			cert, key := selfSigned(t, f.now.Add(60*24*time.Hour), domain)
			if err := writeLocal(f.state, domain, "https://acme.test/dir", cert, key); err != nil {
				t.Fatal(err)
			}
			c := f.build(t, nil)
			if ch := moduletest.Check(t, c); ch == nil {
				t.Fatal("no change planned")
			}
			backup, undo, _ := moduletest.Reversal(t, c, filepath.Join(t.TempDir(), "runs", "1"))
			moduletest.NoSecretIn(t, strings.TrimSpace(string(key)), backup, undo)
			moduletest.MustRunFragment(t, "backup", backup)
			if err := c.Apply(context.Background(), &transporttest.Local{}); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(crt); string(got) != string(cert) {
				t.Fatal("apply did not install the kept certificate")
			}
			for i := 0; i < 2; i++ { // idempotent
				moduletest.MustRunFragment(t, "undo", undo)
			}
			gotCert, certErr := os.ReadFile(crt)
			gotKey, keyErr := os.ReadFile(keyPath)
			switch before {
			case "served":
				if string(gotCert) != string(oldCert) || string(gotKey) != string(oldKey) {
					t.Error("undo did not restore the certificate and key served before")
				}
				if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
					t.Errorf("restored key: %v %v, want 0600", err, st)
				}
			case "none":
				if !os.IsNotExist(certErr) || !os.IsNotExist(keyErr) {
					t.Errorf("undo left files that did not exist before: %v %v", certErr, keyErr)
				}
			}
			local, _ := ReadLocal(f.state, domain)
			if string(local.Cert) != string(cert) {
				t.Error("undo changed the certificate kept locally")
			}
		})
	}
}

// TestProblemsReported: whatever the ACME server refuses with (a bad
// contact, a rate limit), the error quotes its problem document, and the
// certificate kept and the host's files stay as they were.
func TestProblemsReported(t *testing.T) {
	for _, p := range []map[string]any{
		{"type": "urn:ietf:params:acme:error:invalidContact", "detail": `contact email "x" is invalid`, "status": 400},
		{"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many new registrations (10) from this IP address in the last 3h0m0s", "status": 429},
	} {
		t.Run(p["type"].(string), func(t *testing.T) {
			srv := refusingACME(t, p)
			caFile := filepath.Join(t.TempDir(), "ca.crt")
			os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
			f := newFixture(t)
			f.now = time.Now()
			cert, key := selfSigned(t, f.now.Add(5*24*time.Hour), domain) // due for renewal
			dirURL := srv.URL + "/dir"
			if err := writeLocal(f.state, domain, dirURL, cert, key); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(f.hostDir, "site.crt"), cert, 0o644)
			os.WriteFile(filepath.Join(f.hostDir, "site.key"), key, 0o600)
			c := f.build(t, map[string]cty.Value{"directory_url": cty.StringVal(dirURL), "directory_ca_file": cty.StringVal(caFile), "email": cty.StringVal("x")})
			if ch := moduletest.Check(t, c); ch == nil || !strings.HasPrefix(ch.Summary, "renew certificate") {
				t.Fatalf("check: %+v", ch)
			}
			ctx := module.WithHostConns(context.Background(), func(context.Context, string) (transport.Transport, error) {
				return &transporttest.Local{}, nil
			})
			err := c.Apply(ctx, &transporttest.Local{})
			if err == nil || !strings.Contains(err.Error(), p["type"].(string)) || !strings.Contains(err.Error(), p["detail"].(string)) {
				t.Fatalf("apply: %v, want the problem's type and detail", err)
			}
			if !strings.Contains(err.Error(), "the certificate served so far is unchanged") {
				t.Errorf("apply: %v, want it to say what still serves", err)
			}
			local, _ := ReadLocal(f.state, domain)
			hostCert, _ := os.ReadFile(filepath.Join(f.hostDir, "site.crt"))
			if string(local.Cert) != string(cert) || string(hostCert) != string(cert) {
				t.Error("a refused issuance changed the certificate kept or installed")
			}
		})
	}
}
