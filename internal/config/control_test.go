package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadControlRole writes src as role r's role.hcl and loads it.
func loadControlRole(t *testing.T, src string) (*Role, string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "r")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "role.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, diags := NewLoader().LoadRole("r", dir, roleKinds)
	if diags.HasErrors() {
		return r, path, diags
	}
	return r, path, nil
}

func TestRetriesAndDelay(t *testing.T) {
	r, _, err := loadControlRole(t, `
task "command" "wait" {
  command = "true"
  retries = 5
  delay   = "2s"
}
task "command" "default_delay" {
  command = "true"
  retries = 1
}
task "command" "no_wait" {
  command = "true"
  retries = 2
  delay   = "0s"
}
task "command" "once" { command = "true" }
handler "command" "h" {
  command = "true"
  retries = 3
}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		retries int
		delay   time.Duration
	}{{5, 2 * time.Second}, {1, DefaultRetryDelay}, {2, 0}, {0, DefaultRetryDelay}}
	for i, w := range want {
		tk := r.Tasks[i]
		if tk.Retries != w.retries || tk.RetryDelay() != w.delay {
			t.Errorf("%s: retries %d delay %s, want %d and %s", tk.ID(), tk.Retries, tk.RetryDelay(), w.retries, w.delay)
		}
		if _, ok := tk.Attrs["retries"]; ok {
			t.Errorf("%s: retries reaches the kind's arguments", tk.ID())
		}
	}
	if r.Handlers[0].Retries != 3 {
		t.Errorf("handler retries %d, want 3", r.Handlers[0].Retries)
	}
}

// A bad value is an error at its own line, saying what is expected.
func TestRetriesAndDelayRefused(t *testing.T) {
	cases := []struct{ arg, want string }{
		{`retries = -1`, "a whole number from 0 to 100, not -1"},
		{`retries = 1.5`, "a whole number from 0 to 100, not 1.5"},
		{`retries = 101`, "not 101"},
		{`retries = "3"`, "not a string"},
		{`retries = var.n`, "Variables not allowed"},
		{`delay = "soon"`, `such as "2s" or "1m30s", not "soon"`},
		{`delay = 2`, `such as "2s" or "1m30s", not a number`},
		{`delay = "-1s"`, `not "-1s"`},
		{`delay = "2h"`, `from "0s" to "1h"`},
	}
	for _, c := range cases {
		_, path, err := loadControlRole(t, "task \"command\" \"x\" {\n  command = \"true\"\n  "+c.arg+"\n}\n")
		if err == nil {
			t.Errorf("%s: accepted", c.arg)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, path+":3,") {
			t.Errorf("%s: %q does not say %q at %s line 3", c.arg, msg, c.want, path)
		}
	}
}
