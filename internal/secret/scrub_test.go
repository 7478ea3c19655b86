package secret_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/secret"
)

// A secret interpolated into a larger string is found when a tool prints
// it alone, and in each form it may be printed in.
func TestScrubFindsEveryForm(t *testing.T) {
	const pw = `Pw4"lemon&<grape'tz9\`
	s := secret.ForRun(map[string]string{"pw": pw})
	jsonOf := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	for name, text := range map[string]string{
		"alone":        "access denied: " + pw + "\n",
		"in a URL":     "cannot reach mysql://app:" + pw + "@db/app",
		"sh-quoted":    "+ mysql -p" + shell.Quote(pw) + " -e 'select 1'",
		"JSON":         `{"dsn":` + jsonOf("mysql://app:"+pw+"@db/app") + `}`,
		"JSON no HTML": `{"password":"Pw4\"lemon&<grape'tz9\\"}`,
		"Go-quoted":    fmt.Sprintf("printed %q (exit 1)", "x="+pw),
		"base64":       "token " + base64.StdEncoding.EncodeToString([]byte(pw)),
	} {
		got := s.Scrub(text)
		for _, piece := range []string{"lemon", "grape"} {
			if strings.Contains(got, piece) {
				t.Errorf("%s: %q still holds part of the secret", name, got)
			}
		}
		if !strings.Contains(got, secret.Redacted) {
			t.Errorf("%s: %q does not say (sensitive)", name, got)
		}
	}
}

func TestScrubKeepsTheRest(t *testing.T) {
	s := secret.ForRun(map[string]string{"a": "hunter2", "b": "hunter2-long", "short": "1", "empty": ""})
	cases := map[string]string{
		"exit 1: login hunter2 refused":        "exit 1: login (sensitive) refused",
		"key hunter2-long and hunter2, then 1": "key (sensitive) and (sensitive), then 1",
		"nothing secret here":                  "nothing secret here",
		"hunter2hunter2":                       "(sensitive)",
		"":                                     "",
	}
	for in, want := range cases {
		if got := s.Scrub(in); got != want {
			t.Errorf("Scrub(%q) = %q, want %q", in, got, want)
		}
	}
}

// Two secrets that overlap in the text are hidden together: no part of
// either remains.
func TestScrubOverlapping(t *testing.T) {
	s := secret.NewScrubber([]string{"abcdXY", "XYefgh"})
	if got := s.Scrub("[abcdXYefgh]"); got != "[(sensitive)]" {
		t.Errorf("got %q", got)
	}
}

// A multi-line secret (a key, a config) is hidden line by line too, as
// tools print a single line of it.
func TestScrubMultiLine(t *testing.T) {
	key := "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nq83kfjd83kfjsd93\n-----END KEY-----\n"
	s := secret.NewScrubber([]string{key})
	got := s.Scrub("error at line 2: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC is not valid; then q83kfjd83kfjsd93")
	if strings.Contains(got, "MIIEvQ") || strings.Contains(got, "q83kf") {
		t.Errorf("got %q", got)
	}
}

func TestNilScrubberKeepsText(t *testing.T) {
	var s *secret.Scrubber
	if got := s.Scrub("hunter2"); got != "hunter2" {
		t.Errorf("got %q", got)
	}
}
