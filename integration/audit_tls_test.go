package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// testsslFinding is one entry of testssl.sh's flat JSON output.
type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

// testsslSeverities ranks testssl.sh's severities; LOW and above are
// findings an auditor reports.
var testsslSeverities = map[string]int{"DEBUG": 0, "INFO": 1, "OK": 2, "LOW": 3, "MEDIUM": 4, "HIGH": 5, "CRITICAL": 6}

// privateCAFindings are what testssl.sh must report for a certificate from
// skiff's own CA however the server is configured: such a CA publishes no
// revocation (no CRL, no OCSP, so nothing to staple) and public DNS holds no
// CAA record for a name it signs.
var privateCAFindings = map[string]bool{
	"cert_crlDistributionPoints": true,
	"cert_ocspURL":               true,
	"cert_revocation":            true,
	"OCSP_stapling":              true,
	"DNS_CAArecord":              true,
}

// testsslChecks are the checks the audit runs (not testssl.sh's whole
// default run, which takes minutes): protocols, cipher categories, each
// cipher per protocol, forward secrecy, the server's cipher preference,
// server defaults (certificate, session tickets), HTTP headers and the known
// vulnerabilities. About a minute against one host.
var testsslChecks = []string{"-p", "-s", "-E", "-f", "-P", "-S", "-h", "-U"}

// runTestssl audits https://domain:443 at addr with testssl.sh and returns
// its findings. It resolves no name and contacts nothing but addr: the name
// goes in SNI and Host only. ca is added to the trust stores it checks.
func runTestssl(t *testing.T, addr, domain, ca string) []testsslFinding {
	t.Helper()
	if _, err := exec.LookPath("testssl"); err != nil {
		t.Fatalf("testssl not found: install Debian's testssl.sh package (.ci/run does)")
	}
	out := filepath.Join(t.TempDir(), "testssl.json")
	args := append([]string{"--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
		"--ip", addr, "--add-ca", ca, "--connect-timeout", "10", "--openssl-timeout", "10",
		"--jsonfile", out}, testsslChecks...)
	args = append(args, "https://"+domain+":443")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "testssl", args...)
	cmd.Dir = t.TempDir()
	start := time.Now()
	text, err := cmd.CombinedOutput()
	t.Logf("testssl %s: %v in %s\n%s", strings.Join(args, " "), err, time.Since(start).Round(time.Second), text)
	raw, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatalf("testssl wrote no findings: %v", rerr)
	}
	var findings []testsslFinding
	if err := json.Unmarshal(raw, &findings); err != nil {
		t.Fatalf("testssl's JSON: %v\n%s", err, raw)
	}
	return findings
}

// severityCounts counts findings by severity, as "CRITICAL=0 HIGH=1 …".
func severityCounts(findings []testsslFinding) string {
	n := map[string]int{}
	for _, f := range findings {
		n[f.Severity]++
	}
	var parts []string
	for _, s := range []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN", "OK", "INFO"} {
		parts = append(parts, fmt.Sprintf("%s=%d", s, n[s]))
	}
	return strings.Join(parts, " ")
}

func findingByID(findings []testsslFinding, id string) (testsslFinding, bool) {
	for _, f := range findings {
		if f.ID == id {
			return f, true
		}
	}
	return testsslFinding{}, false
}

var (
	hstsSeconds = regexp.MustCompile(`\(=(\d+) seconds\)`)
	// profileTLS12Cipher is a TLS 1.2 suite Mozilla's intermediate profile
	// allows: ECDHE key exchange, AES-GCM or ChaCha20-Poly1305.
	profileTLS12Cipher = regexp.MustCompile(`^TLS 1\.2\s+\S+\s+ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)\s`)
	// profileSuite is a suite of the profile by its IANA name.
	profileSuite = regexp.MustCompile(`^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256|ECDHE_(ECDSA|RSA)_WITH_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256))$`)
	// profileTLS13Cipher is one of TLS 1.3's AEAD suites.
	profileTLS13Cipher = regexp.MustCompile(`^TLS 1\.3\s+\S+\s+TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)\s`)
)

// clientHello is what openssl s_server -trace shows of the first
// ClientHello it received.
type clientHello struct {
	ciphers, versions, extensions []string
}

var traceEntry = regexp.MustCompile(`^\s*\{0x[0-9A-F]{2}, 0x[0-9A-F]{2}\} (\S+)`)

func parseClientHello(trace string) (clientHello, bool) {
	var h clientHello
	i := strings.Index(trace, "ClientHello")
	if i < 0 {
		return h, false
	}
	section := ""
	for _, line := range strings.Split(trace[i:], "\n")[1:] {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "Received Record") || strings.HasPrefix(t, "Sent Record"):
			return h, true
		case strings.HasPrefix(t, "cipher_suites"):
			section = "ciphers"
		case strings.HasPrefix(t, "compression_methods"):
			section = ""
		case strings.HasPrefix(t, "extension_type="):
			name := strings.TrimPrefix(t, "extension_type=")
			name = name[:strings.IndexAny(name+",", ",")]
			h.extensions = append(h.extensions, name)
			section = name
		case section == "ciphers":
			if m := traceEntry.FindStringSubmatch(line); m != nil {
				h.ciphers = append(h.ciphers, m[1])
			}
		case section == "supported_versions(43)":
			h.versions = append(h.versions, t)
		}
	}
	return h, true
}

// headersOf returns the response headers of a request through HAProxy's
// :443, trusting only skiff's CA.
func headersOf(t *testing.T, addr, ca string, curlArgs ...string) string {
	t.Helper()
	args := append([]string{"-sS", "-o", "/dev/null", "-D", "-", "--max-time", "10", "--cacert", ca,
		"--resolve", "www.foobar.com:443:" + addr}, curlArgs...)
	out, err := exec.Command("curl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(curlArgs, " "), err, out)
	}
	return strings.ToLower(string(out))
}

// TestTLSAudit deploys the site on the smallest stack that has both an lb
// and a web server (web1, both; db1 and db2, the databases the site needs)
// and audits its :443 the
// way an outsider would, with testssl.sh: nginx behind HAProxy must meet
// Mozilla's intermediate server profile.
func TestTLSAudit(t *testing.T) {
	names := []string{"web1", "db1", "db2"}
	_, groups := testhosts.SiteHosts()
	delete(groups, "web2")
	c := startCluster(t, names, nil)
	root, _ := testhosts.RepoRoot()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	extra, err := c.SiteSettings(ctx, root, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, groups, extra); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, ".skiff", "pki", "ca.crt")
	web1, _ := c.Host("web1")
	const domain = "www.foobar.com"

	r := skiff(t, "apply", "-i", inv, "playbooks/site.hcl", "--yes", "--output", "json")
	if r.code != 0 || r.json.Summary.Failed+r.json.Summary.Unreachable != 0 {
		t.Fatalf("apply: exit %d, summary %+v\n%s", r.code, r.json.Summary, r.stderr)
	}
	r = skiff(t, "apply", "-i", inv, "playbooks/site.hcl", "--yes", "--output", "json")
	if r.code != 0 || r.json.Summary.Changed != 0 {
		for _, h := range r.json.Hosts {
			for _, ch := range h.Changes {
				t.Logf("%s changed %s/%s %s: %s", h.Name, ch.Play, ch.Role, ch.Task, ch.Summary)
			}
		}
		t.Fatalf("second apply: exit %d, summary %+v", r.code, r.json.Summary)
	}
	eventually(t, 60*time.Second, "https through HAProxy", func() (bool, string) {
		out, err := exec.Command("curl", "-sS", "--fail", "--max-time", "10", "--cacert", ca,
			"--resolve", domain+":443:"+web1.Address, "https://"+domain+"/").CombinedOutput()
		return err == nil && strings.Contains(string(out), "Visit number"), string(out)
	})

	auditTLS(t, c, "web1", ca)

	t.Run("hsts_max_age shortens or drops the header", func(t *testing.T) {
		apply := func(extra ...string) {
			t.Helper()
			r := skiff(t, append([]string{"apply", "-i", inv, "playbooks/site.hcl", "--yes", "--limit", "web1"}, extra...)...)
			if r.code != 0 {
				t.Fatalf("apply %v: exit %d\n%s", extra, r.code, r.stderr)
			}
		}
		hsts := func() string {
			for _, line := range strings.Split(headersOf(t, web1.Address, ca, "https://www.foobar.com/"), "\r\n") {
				if strings.HasPrefix(line, "strict-transport-security:") {
					return line
				}
			}
			return ""
		}
		// nginx's reload returns before its new workers answer.
		for _, step := range []struct {
			args []string
			want string
		}{
			{[]string{"-e", "hsts_max_age=86400"}, "strict-transport-security: max-age=86400"},
			{[]string{"-e", "hsts_max_age=0"}, ""},
			{nil, "strict-transport-security: max-age=63072000"}, // the default again
		} {
			apply(step.args...)
			eventually(t, 30*time.Second, fmt.Sprintf("HSTS after apply %v", step.args), func() (bool, string) {
				got := hsts()
				return got == step.want, got
			})
		}
	})
}

// auditTLS audits the site's :443 on the lb host, deployed by the site
// playbook with the CA at ca, as an outsider would: testssl.sh's findings,
// the protocols and ciphers offered, HSTS and session tickets, the security
// headers, and the TLS client HAProxy's health checks use.
func auditTLS(t *testing.T, c *testhosts.Cluster, lb, ca string) {
	t.Helper()
	host, err := c.Host(lb)
	if err != nil {
		t.Fatal(err)
	}
	const domain = "www.foobar.com"
	findings := runTestssl(t, host.Address, domain, ca)
	t.Logf("testssl findings by severity: %s", severityCounts(findings))
	for _, f := range findings {
		if testsslSeverities[f.Severity] >= testsslSeverities["LOW"] || f.Severity == "WARN" {
			t.Logf("  %-8s %-28s %s", f.Severity, f.ID, f.Finding)
		}
	}

	t.Run("no finding of LOW or above but a private CA's", func(t *testing.T) {
		strongOnly := true
		for _, f := range findings {
			if strings.HasPrefix(f.ID, "cipherlist_") && f.ID != "cipherlist_STRONG" && !strings.HasPrefix(f.Finding, "not offered") {
				strongOnly = false
			}
		}
		var bad []string
		for _, f := range findings {
			if f.Severity == "WARN" {
				bad = append(bad, fmt.Sprintf("%s %s: %s", f.Severity, f.ID, f.Finding))
				continue
			}
			if testsslSeverities[f.Severity] < testsslSeverities["LOW"] || privateCAFindings[f.ID] {
				continue
			}
			// Mozilla's intermediate profile leaves the cipher choice to the
			// client; that is sound only while every cipher offered is strong.
			if f.ID == "cipher_order" && strongOnly {
				continue
			}
			bad = append(bad, fmt.Sprintf("%s %s: %s", f.Severity, f.ID, f.Finding))
		}
		sort.Strings(bad)
		if len(bad) > 0 {
			t.Errorf("testssl reports:\n%s", strings.Join(bad, "\n"))
		}
	})

	t.Run("TLS 1.2 and 1.3 only; ECDHE with AEAD ciphers only", func(t *testing.T) {
		var tls12, tls13 int
		for _, f := range findings {
			switch {
			case strings.HasPrefix(f.ID, "cipher-tls1_2_"):
				tls12++
				if !profileTLS12Cipher.MatchString(f.Finding) {
					t.Errorf("TLS 1.2 cipher outside the profile: %s", f.Finding)
				}
			case strings.HasPrefix(f.ID, "cipher-tls1_3_"):
				tls13++
				if !profileTLS13Cipher.MatchString(f.Finding) {
					t.Errorf("TLS 1.3 cipher outside the profile: %s", f.Finding)
				}
			case strings.HasPrefix(f.ID, "cipher-"):
				t.Errorf("cipher of another protocol offered: %s", f.Finding)
			}
		}
		if tls12 == 0 || tls13 == 0 {
			t.Errorf("testssl lists %d TLS 1.2 and %d TLS 1.3 ciphers, want both offered", tls12, tls13)
		}
	})

	t.Run("HSTS of two years; session tickets off", func(t *testing.T) {
		hsts, ok := findingByID(findings, "HSTS_time")
		m := hstsSeconds.FindStringSubmatch(hsts.Finding)
		if !ok || m == nil {
			t.Fatalf("testssl finds no HSTS max-age: %+v", hsts)
		}
		if n, _ := strconv.Atoi(m[1]); n < 63072000 {
			t.Errorf("HSTS max-age %d s, want two years (63072000) or more", n)
		}
		if f, ok := findingByID(findings, "TLS_session_ticket"); !ok || !strings.HasPrefix(f.Finding, "no ") {
			t.Errorf("session ticket hint: %+v, want none", f)
		}
		if f, ok := findingByID(findings, "sessionresumption_ticket"); !ok || f.Finding != "not supported" {
			t.Errorf("resumption by ticket: %+v, want not supported", f)
		}
		// TLS 1.3 tickets come after the handshake: openssl waits a second
		// for them.
		for _, version := range []string{"-tls1_2", "-tls1_3"} {
			cmd := exec.Command("sh", "-c", "(sleep 1; echo) | openssl s_client "+version+" -connect "+host.Address+":443 -servername "+domain+" -CAfile "+shellQuote(ca))
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Verify return code: 0 (ok)") {
				t.Fatalf("openssl s_client %s: %v\n%s", version, err, out)
			}
			if strings.Contains(strings.ToLower(string(out)), "session ticket") {
				t.Errorf("openssl s_client %s got a session ticket:\n%s", version, out)
			}
		}
	})

	// The app's pages, the app's own 404 and an error nginx answers itself
	// (it refuses TRACE) all carry the headers.
	t.Run("security headers on every response", func(t *testing.T) {
		for _, req := range [][]string{
			{"https://www.foobar.com/"},
			{"https://www.foobar.com/no-such-page"},
			{"-X", "TRACE", "https://www.foobar.com/"},
		} {
			h := headersOf(t, host.Address, ca, req...)
			for _, want := range []string{
				"strict-transport-security: max-age=63072000\r\n",
				"x-content-type-options: nosniff\r\n",
				"referrer-policy: strict-origin-when-cross-origin\r\n",
				"x-frame-options: deny\r\n",
				"content-security-policy: frame-ancestors 'none'\r\n",
			} {
				if strings.Count(h, want) != 1 {
					t.Errorf("%v: want one %q in:\n%s", req, strings.TrimSpace(want), h)
				}
			}
		}
	})

	// A server HAProxy checks but sends no traffic to (added in maintenance
	// through the runtime API): openssl s_server shows the ClientHello of
	// HAProxy's health check, the TLS client skiff configures there.
	t.Run("HAProxy's health checks offer only the profile", func(t *testing.T) {
		hostExec(t, c, lb, "setsid openssl s_server -accept 127.0.0.1:9443 -cert /etc/nginx/tls/site.crt -key /etc/nginx/tls/site.key -www -trace >/tmp/check-hello.log 2>&1 </dev/null & echo $! >/tmp/check-hello.pid")
		sock := func(cmd string) string {
			out, _ := hostExec(t, c, lb, "printf '%s\\n' "+shellQuote(cmd)+" | nc -U -q 1 /run/haproxy/admin.sock")
			return out
		}
		t.Cleanup(func() {
			sock("del server web_tls/tlsprobe")
			hostExec(t, c, lb, "kill $(cat /tmp/check-hello.pid)")
		})
		if out := sock("add server web_tls/tlsprobe 127.0.0.1:9443 weight 0 check check-ssl verify none"); !strings.Contains(out, "New server registered") {
			t.Fatalf("add server: %s", out)
		}
		sock("enable health web_tls/tlsprobe")
		var trace string
		eventually(t, 30*time.Second, "a health check at the probe", func() (bool, string) {
			trace, _ = hostExec(t, c, lb, "cat /tmp/check-hello.log")
			return strings.Contains(trace, "ClientHello"), trace
		})
		hello, _ := parseClientHello(trace)
		t.Logf("health check's ClientHello: ciphers %v, versions %v, extensions %v", hello.ciphers, hello.versions, hello.extensions)
		if len(hello.ciphers) == 0 || len(hello.versions) == 0 {
			t.Fatalf("no ciphers or versions in the ClientHello:\n%s", trace)
		}
		for _, cipher := range hello.ciphers {
			if cipher != "TLS_EMPTY_RENEGOTIATION_INFO_SCSV" && !profileSuite.MatchString(cipher) {
				t.Errorf("the health check offers %s", cipher)
			}
		}
		for _, v := range hello.versions {
			if !strings.HasPrefix(v, "TLS 1.2 ") && !strings.HasPrefix(v, "TLS 1.3 ") {
				t.Errorf("the health check offers %s", v)
			}
		}
		for _, e := range hello.extensions {
			if strings.HasPrefix(e, "session_ticket") {
				t.Errorf("the health check asks for session tickets")
			}
		}
	})

}
