package shell

import (
	"fmt"
	"slices"
	"strings"

	"skiff/internal/secret"
	"skiff/internal/transport"
)

// tailBytes is how much of a failed script's output an error quotes.
const tailBytes = 2048

// RunError is a script that ran but exited non-zero. Its message quotes the
// end of the script's stderr and stdout, with the secrets it was given
// replaced by secret.Redacted.
type RunError struct {
	What     string // "apt-get install nginx"
	ExitCode int
	Output   string // already scrubbed and trimmed
}

func (e *RunError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("%s failed (exit %d, no output)", e.What, e.ExitCode)
	}
	return fmt.Sprintf("%s failed (exit %d): %s", e.What, e.ExitCode, e.Output)
}

// NewRunError builds a RunError from res. secrets are the values that must
// not appear in the message (see module.Args.SecretStrings).
func NewRunError(what string, res transport.Result, secrets []string) *RunError {
	return &RunError{What: what, ExitCode: res.ExitCode, Output: Tail(res, secrets)}
}

// Tail returns the end of the script's stderr, then of its stdout, trimmed,
// with every occurrence of a secret replaced by secret.Redacted.
func Tail(res transport.Result, secrets []string) string {
	var parts []string
	for _, b := range [][]byte{res.Stderr, res.Stdout} {
		s := strings.TrimSpace(Scrub(string(b), secrets))
		if s == "" {
			continue
		}
		if len(s) > tailBytes {
			s = "…" + s[len(s)-tailBytes:]
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "\n")
}

// Scrub replaces each non-empty secret in s by secret.Redacted, longest
// first so that a secret containing another is replaced whole.
func Scrub(s string, secrets []string) string {
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range sorted {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, secret.Redacted)
		}
	}
	return s
}
