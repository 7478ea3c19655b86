package waithttp

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func needCurl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
}

func build(t *testing.T, vals map[string]cty.Value) *Wait {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("wait_http", "w", vals)).(*Wait)
}

func args(url string, kv ...any) map[string]cty.Value {
	vals := map[string]cty.Value{"url": cty.StringVal(url)}
	for i := 0; i+1 < len(kv); i += 2 {
		vals[kv[i].(string)] = kv[i+1].(cty.Value)
	}
	return vals
}

func apply(w *Wait) error { return w.Apply(context.Background(), &transporttest.Local{}) }

func TestDefaults(t *testing.T) {
	w := build(t, args("http://127.0.0.1:8080/healthz"))
	if w.status != 200 || w.body != "" || w.timeout != time.Minute || w.timeoutText != "60s" || w.interval != time.Second || w.insecure || w.caFile != "" || w.invalid {
		t.Errorf("defaults = %+v", w)
	}
	w = build(t, args("https://app.example/version", "status", cty.NumberIntVal(204), "body", cty.StringVal("v2"),
		"timeout", cty.StringVal("2m"), "interval", cty.StringVal("250ms"), "ca_file", cty.StringVal("/etc/ca.crt")))
	if w.status != 204 || w.body != "v2" || w.timeout != 2*time.Minute || w.timeoutText != "2m" || w.interval != 250*time.Millisecond || w.caFile != "/etc/ca.crt" {
		t.Errorf("given = %+v", w)
	}
	if s := seconds(w.interval); s != "0.25" {
		t.Errorf("interval for sleep = %q", s)
	}
}

func TestArgErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"no url":          {map[string]cty.Value{"status": cty.NumberIntVal(200)}, `needs the argument "url"`},
		"not http":        {args("ftp://host/x"), "http:// or https:// URL"},
		"no host":         {args("http:///healthz"), "http:// or https:// URL"},
		"space in url":    {args("http://h/a b"), "http:// or https:// URL"},
		"bad status":      {args("http://h/", "status", cty.NumberIntVal(42)), "HTTP status code"},
		"status text":     {args("http://h/", "status", cty.StringVal("ok")), `"status"`},
		"multiline body":  {args("http://h/", "body", cty.StringVal("a\nb")), "one line"},
		"bad timeout":     {args("http://h/", "timeout", cty.StringVal("60")), "timeout must be a positive duration"},
		"negative":        {args("http://h/", "timeout", cty.StringVal("-1s")), "timeout must be a positive duration"},
		"bad interval":    {args("http://h/", "interval", cty.StringVal("often")), "interval must be a positive duration"},
		"relative ca":     {args("https://h/", "ca_file", cty.StringVal("ca.crt")), "absolute path"},
		"insecure and ca": {args("https://h/", "ca_file", cty.StringVal("/ca.crt"), "insecure", cty.True), "one or the other"},
		"secret url":      {map[string]cty.Value{"url": secret.Wrap(cty.StringVal("http://h/?t=x"))}, "must not derive from a secret"},
		"unsupported":     {args("http://h/", "method", cty.StringVal("POST")), `no argument named "method"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("wait_http", "w", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
		})
	}
}

func TestScriptsParse(t *testing.T) {
	w := build(t, args("http://127.0.0.1:8080/a?b='c'&d=$(x)", "body", cty.StringVal(`it's "$HOME" `+"`id`"), "ca_file", cty.StringVal("/etc/my ca.crt")))
	f := &captured{}
	w.Apply(context.Background(), f)
	for name, sc := range map[string]string{"probe": w.Probe(), "apply": f.script} {
		cmd := exec.Command("/bin/sh", "-n")
		cmd.Stdin = strings.NewReader(sc)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v: %s\n%s", name, err, out, sc)
		}
		for _, want := range []string{`url='http://127.0.0.1:8080/a?b='\''c'\''&d=$(x)'`, `--cacert '/etc/my ca.crt'`, "--max-time 5 "} {
			if !strings.Contains(sc, want) {
				t.Errorf("%s lacks %s:\n%s", name, want, sc)
			}
		}
	}
	if !strings.Contains(f.script, "+ 60 ))") || !strings.Contains(f.script, "sleep 1\n") {
		t.Errorf("apply script:\n%s", f.script)
	}
}

// captured is a transport that records the script and prints nothing.
type captured struct {
	transport.Transport
	script string
}

func (c *captured) Run(_ context.Context, s string) (transport.Result, error) {
	c.script = s
	return transport.Result{}, nil
}

// server answers / with the status and body that answer returns.
func server(t *testing.T, answer func() (int, string)) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, body := answer()
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func fixed(code int, body string) func() (int, string) {
	return func() (int, string) { return code, body }
}

// closedURL is a URL on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/healthz"
}

func TestCheck(t *testing.T) {
	needCurl(t)
	healthy := server(t, fixed(200, "ok\n"))
	starting := server(t, fixed(503, "starting"))
	version := server(t, fixed(200, `{"version":"v1"}`))
	down := closedURL(t)
	for _, tc := range []struct {
		name    string
		vals    map[string]cty.Value
		summary string // "" for no change
	}{
		{"healthy", args(healthy.URL), ""},
		{"healthy with body", args(healthy.URL, "body", cty.StringVal("ok")), ""},
		{"wrong body", args(healthy.URL, "body", cty.StringVal("ready")), `wait until ` + healthy.URL + ` answers 200 with "ready" (timeout 60s)`},
		{"old version", args(version.URL, "body", cty.StringVal(`"version":"v2"`), "timeout", cty.StringVal("2m")),
			`wait until ` + version.URL + ` answers 200 with "\"version\":\"v2\"" (timeout 2m)`},
		{"new version", args(version.URL, "body", cty.StringVal(`"version":"v1"`)), ""},
		{"starting", args(starting.URL), "wait until " + starting.URL + " answers 200 (timeout 60s)"},
		{"want 503", args(starting.URL, "status", cty.NumberIntVal(503), "body", cty.StringVal("start")), ""},
		{"nothing listens", args(down), "wait until " + down + " answers 200 (timeout 60s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := build(t, tc.vals)
			ch := moduletest.Check(t, w)
			switch {
			case tc.summary == "" && ch != nil:
				t.Fatalf("unexpected change %+v", *ch)
			case tc.summary != "" && (ch == nil || ch.Summary != tc.summary || ch.Action != plan.Run):
				t.Fatalf("change = %+v\nwant %q", ch, tc.summary)
			}
			if tc.summary == "" {
				// Check found nothing; the engine may apply all the same.
				if err := apply(w); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestProbeCapsBody: a large body is not printed; only its first 200
// bytes are reported.
func TestProbeCapsBody(t *testing.T) {
	needCurl(t)
	big := strings.Repeat("0123456789", 100_000)
	s := server(t, fixed(500, big))
	w := build(t, args(s.URL, "body", cty.StringVal("56789")))
	p := moduletest.Probe(t, w)
	if len(p.Stdout) > 1000 {
		t.Fatalf("probe printed %d bytes", len(p.Stdout))
	}
	a := parse(p.Stdout)
	if a.status != "500" || a.curlExit != "0" || !a.bodyMatch || string(a.body) != big[:200] {
		t.Errorf("answer = %+v", a)
	}
}

func TestApplyBecomesHealthy(t *testing.T) {
	needCurl(t)
	healthyAt := time.Now().Add(1500 * time.Millisecond)
	s := server(t, func() (int, string) {
		if time.Now().Before(healthyAt) {
			return 503, "starting"
		}
		return 200, `{"status":"ok","version":"v2"}`
	})
	w := build(t, args(s.URL, "body", cty.StringVal(`"version":"v2"`), "timeout", cty.StringVal("10s"), "interval", cty.StringVal("200ms")))
	if ch := moduletest.Check(t, w); ch == nil {
		t.Fatal("healthy too early")
	}
	if err := apply(w); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(healthyAt) {
		t.Errorf("Apply returned before the server was healthy")
	}
	if el := time.Since(healthyAt); el > 2*time.Second {
		t.Errorf("Apply returned %s after the server became healthy", el)
	}
	if ch := moduletest.Check(t, build(t, args(s.URL, "body", cty.StringVal(`"version":"v2"`)))); ch != nil {
		t.Errorf("healthy, yet %+v", *ch)
	}
}

func TestApplyTimeout(t *testing.T) {
	needCurl(t)
	body := "é" + strings.Repeat("x", 300) // 2 bytes, then 198 of 300 x shown
	s := server(t, fixed(503, body))
	w := build(t, args(s.URL, "body", cty.StringVal("ok"), "timeout", cty.StringVal("1s"), "interval", cty.StringVal("200ms")))
	start := time.Now()
	err := apply(w)
	el := time.Since(start)
	want := fmt.Sprintf(`%s did not answer 200 with "ok" within 1s: last answer status 503, body %q`, s.URL, body[:200])
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	if el < time.Second || el > 4*time.Second {
		t.Errorf("timeout 1s took %s", el)
	}

	down := closedURL(t)
	err = apply(build(t, args(down, "timeout", cty.StringVal("1s"), "interval", cty.StringVal("300ms"))))
	if err == nil || !strings.Contains(err.Error(), down+" did not answer 200 within 1s: last answer no answer (curl: (7) ") {
		t.Fatalf("err = %v", err)
	}
}

func TestHTTPS(t *testing.T) {
	needCurl(t)
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	t.Cleanup(s.Close)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	// An unknown certificate: curl fails (exit 60), whatever the status.
	w := build(t, args(s.URL, "timeout", cty.StringVal("1s")))
	if ch := moduletest.Check(t, w); ch == nil {
		t.Error("untrusted certificate accepted")
	}
	if err := apply(w); err == nil || !strings.Contains(err.Error(), "curl: (60)") {
		t.Errorf("err = %v", err)
	}
	for name, vals := range map[string]map[string]cty.Value{
		"insecure": args(s.URL, "insecure", cty.True, "body", cty.StringVal("ok")),
		"ca_file":  args(s.URL, "ca_file", cty.StringVal(ca), "body", cty.StringVal("ok")),
	} {
		if ch := moduletest.Check(t, build(t, vals)); ch != nil {
			t.Errorf("%s: %+v", name, *ch)
		}
	}
}

// TestWithoutCurl: a host without curl (yet) plans a change; Apply fails.
func TestWithoutCurl(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"sh", "grep", "head", "od", "tr", "mktemp", "rm", "date", "sleep"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			continue
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	w := build(t, args("http://127.0.0.1:1/healthz"))
	ch := moduletest.Check(t, w)
	if ch == nil || !strings.HasSuffix(ch.Summary, "(curl not installed yet)") {
		t.Fatalf("change = %+v", ch)
	}
	if err := apply(w); err == nil || !strings.Contains(err.Error(), "curl is not installed") {
		t.Errorf("err = %v", err)
	}
}

func TestNotReversible(t *testing.T) {
	if _, ok := module.Module(build(t, args("http://h/"))).(module.Reversible); ok {
		t.Error("wait_http claims to be reversible")
	}
}
