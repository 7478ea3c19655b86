// Package waithttp is the "wait_http" task kind: wait until a URL, asked
// from the host itself with curl, answers the wanted status (and body).
//
//	task "wait_http" "healthy" {
//	  url      = "http://127.0.0.1:8080/healthz"  # http:// or https://
//	  status   = 200        # the default
//	  body     = "ok"       # optional: the body must contain it (bytes, one line)
//	  timeout  = "60s"      # the default
//	  interval = "1s"       # the default: pause between two requests
//	  insecure = false      # curl -k
//	  ca_file  = "/etc/ssl/foobar-ca.crt"  # optional: curl --cacert
//	}
//
// One request is one curl call of at most 5s (less when the timeout is
// shorter) that does not follow redirects; it succeeds when curl completes
// it (exit 0), the status is the wanted one and, with body, the response
// body contains body (a fixed-string grep). The body is kept in a
// temporary folder on the host, removed at the end; only its first 200
// bytes are ever reported.
//
// Probe makes one request (it changes nothing), and Check reports nothing
// to do when it succeeds, else a change. Apply, whatever Check found (the
// engine may run the task anyway), polls in one remote script: a request,
// then every interval another, until one succeeds or the timeout (whole
// seconds, rounded up, measured on the host) has passed, which is an error
// quoting the last status and the start of the last body. A wait changes
// nothing on the host: the kind is not reversible.
package waithttp

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// requestMax is the longest one request may take.
const requestMax = 5 * time.Second

// bodyShown is how many bytes of a body the probe and errors report.
const bodyShown = 200

// Wait is one "wait_http" task.
type Wait struct {
	url               string
	status            int
	body              string // "" when any body will do
	timeout, interval time.Duration
	timeoutText       string // as written, for messages
	insecure          bool
	caFile            string
	invalid           bool // some argument is unknown or wrong: no script
}

var _ module.Module = (*Wait)(nil)

// New is the module.Factory of the "wait_http" kind.
func New(a *module.Args) module.Module {
	w := &Wait{
		url:      a.String("url", true),
		status:   a.Int("status", 200),
		body:     a.String("body", false),
		insecure: a.Bool("insecure", false),
		caFile:   a.String("ca_file", false),
	}
	a.RejectSensitive("url", "body", "ca_file")
	for _, n := range []string{"url", "status", "body", "timeout", "interval", "insecure", "ca_file"} {
		if a.Unknown(n) {
			w.invalid = true
		}
	}
	known := func(n string) bool { return a.Has(n) && !a.Unknown(n) }
	if !known("url") {
		w.invalid = true
	} else if u, err := url.Parse(w.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(w.url, " \t\r\n\x00") {
		a.Errorf("url", "url must be an http:// or https:// URL, not %q.", w.url)
		w.invalid = true
	}
	if known("status") && (w.status < 100 || w.status > 599) {
		a.Errorf("status", "status must be an HTTP status code (100 to 599), not %d.", w.status)
		w.invalid = true
	}
	if strings.ContainsAny(w.body, "\r\n\x00") {
		a.Errorf("body", "body must be one line of text: it is matched line by line.")
		w.invalid = true
	}
	if w.caFile != "" && !strings.HasPrefix(w.caFile, "/") {
		a.Errorf("ca_file", "ca_file must be an absolute path on the host, not %q.", w.caFile)
		w.invalid = true
	}
	if w.caFile != "" && w.insecure {
		a.Errorf("insecure", "insecure skips the certificate check that ca_file is for: give one or the other.")
		w.invalid = true
	}
	w.timeoutText = "60s"
	w.timeout = duration(a, "timeout", &w.timeoutText, &w.invalid)
	intervalText := "1s"
	w.interval = duration(a, "interval", &intervalText, &w.invalid)
	return w
}

// duration reads a positive duration argument written like "30s" or "2m";
// *text holds the default and receives the text as written.
func duration(a *module.Args, name string, text *string, invalid *bool) time.Duration {
	def, _ := time.ParseDuration(*text)
	if !a.Has(name) || a.Unknown(name) {
		a.Value(name)
		return def
	}
	s := a.String(name, false)
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		a.Errorf(name, "%s must be a positive duration such as \"30s\" or \"2m\", not %q.", name, s)
		*invalid = true
		return def
	}
	*text = s
	return d
}

// seconds formats d for sleep and curl --max-time: "1", "0.5".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// lib defines req, which makes one request and sets $code ("000" without
// an answer) and $rc (curl's exit code), leaves the body in "$dir/body"
// and curl's complaint in "$dir/err"; ok, which succeeds when the last
// request met the condition; and report, which prints what Check and
// Apply read (see parse).
func (w *Wait) lib() string {
	maxTime := min(requestMax, w.timeout)
	opts := fmt.Sprintf("-sS --max-time %s", seconds(maxTime))
	if w.insecure {
		opts += " -k"
	}
	if w.caFile != "" {
		opts += " --cacert " + shell.Quote(w.caFile)
	}
	var b strings.Builder
	b.WriteString("LC_ALL=C; export LC_ALL\n")
	fmt.Fprintf(&b, "url=%s\nwant=%d\nbody=%s\n", shell.Quote(w.url), w.status, shell.Quote(w.body))
	b.WriteString("if ! command -v curl >/dev/null 2>&1; then echo curl=absent; exit 0; fi\n")
	b.WriteString("dir=$(mktemp -d) || exit 1\ntrap 'rm -rf \"$dir\"' EXIT\n")
	fmt.Fprintf(&b, `req() {
	code=$(curl %s -o "$dir/body" -w '%%{http_code}' --url "$url" 2>"$dir/err" </dev/null)
	rc=$?
	[ -n "$code" ] || code=000
	[ -f "$dir/body" ] || : > "$dir/body"
}
ok() {
	[ "$rc" = 0 ] && [ "$code" = "$want" ] || return 1
	[ -z "$body" ] || grep -qF -e "$body" "$dir/body"
}
report() {
	echo "status=$code"
	echo "curl_exit=$rc"
	printf '%%s\n' "error=$(head -n 1 "$dir/err" | tr -d '\r')"
	if [ -n "$body" ]; then
		if grep -qF -e "$body" "$dir/body"; then echo body_match=yes; else echo body_match=no; fi
	fi
	echo "body_hex=$(head -c %d "$dir/body" | od -An -v -tx1 | tr -d ' \n')"
}
`, opts, bodyShown)
	return b.String()
}

// Volatile: its answer is the health of a service now, so it is never read ahead.
func (w *Wait) Volatile() bool { return true }

// Probe makes one request and prints its outcome (see parse).
func (w *Wait) Probe() string {
	if w.invalid {
		return ""
	}
	return w.lib() + "req\nreport\n"
}

// answer is one request's outcome as report printed it.
type answer struct {
	noCurl    bool
	status    string // "000" when nothing answered
	curlExit  string
	curlError string // curl's first line of complaint
	bodyMatch bool
	body      []byte // the first bodyShown bytes
}

func parse(out []byte) answer {
	f := shell.Fields(out)
	body, _ := hex.DecodeString(f["body_hex"])
	return answer{
		noCurl:    f["curl"] == "absent",
		status:    f["status"],
		curlExit:  f["curl_exit"],
		curlError: f["error"],
		bodyMatch: f["body_match"] == "yes",
		body:      body,
	}
}

// holds reports whether the answer meets the condition (as ok does).
func (w *Wait) holds(a answer) bool {
	return a.curlExit == "0" && a.status == strconv.Itoa(w.status) && (w.body == "" || a.bodyMatch)
}

// describe is the answer for an error: `503, body "starting"`, or curl's
// complaint when nothing answered.
func (a answer) describe() string {
	if a.status == "" || a.status == "000" || a.curlExit != "0" && a.curlError != "" {
		what := "no answer"
		if a.status != "" && a.status != "000" {
			what = "status " + a.status
		}
		if a.curlError != "" {
			return what + " (" + a.curlError + ")"
		}
		return what
	}
	body := strings.ToValidUTF8(string(a.body), "\uFFFD")
	return fmt.Sprintf("status %s, body %q", a.status, body)
}

// wanted is the condition for messages: `200 with "ok"`.
func (w *Wait) wanted() string {
	s := strconv.Itoa(w.status)
	if w.body != "" {
		s += fmt.Sprintf(" with %q", w.body)
	}
	return s
}

// Check reports nothing to do when the probe's request met the condition.
func (w *Wait) Check(p module.Probed) (*module.Change, error) {
	a := parse(p.Stdout)
	if !w.invalid && w.holds(a) {
		return nil, nil
	}
	summary := fmt.Sprintf("wait until %s answers %s (timeout %s)", w.url, w.wanted(), w.timeoutText)
	if a.noCurl {
		summary += " (curl not installed yet)"
	}
	return &module.Change{Action: plan.Run, Summary: summary}, nil
}

// Apply polls until the condition holds or the timeout has passed.
func (w *Wait) Apply(ctx context.Context, t transport.Transport) error {
	if w.invalid {
		return fmt.Errorf("wait_http: invalid arguments")
	}
	secs := max(1, int(math.Ceil(w.timeout.Seconds())))
	var b strings.Builder
	b.WriteString(w.lib())
	fmt.Fprintf(&b, "deadline=$(( $(date +%%s) + %d ))\n", secs)
	b.WriteString("while :; do\n\treq\n")
	b.WriteString("\tif ok; then report; echo result=done; exit 0; fi\n")
	b.WriteString("\tif [ \"$(date +%s)\" -gt \"$deadline\" ]; then report; echo result=timeout; exit 0; fi\n")
	fmt.Fprintf(&b, "\tsleep %s\ndone\n", seconds(w.interval))
	what := "wait for " + w.url
	res, err := shell.Output(ctx, t, what, b.String(), nil)
	if err != nil {
		return err
	}
	a := parse(res.Stdout)
	switch f := shell.Fields(res.Stdout); {
	case a.noCurl:
		return fmt.Errorf("%s: curl is not installed on the host", what)
	case f["result"] == "done":
		return nil
	case f["result"] == "timeout":
		return fmt.Errorf("%s did not answer %s within %s: last answer %s", w.url, w.wanted(), w.timeoutText, a.describe())
	}
	return shell.NewRunError(what+" (no result printed)", res, nil)
}
