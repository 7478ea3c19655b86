package shell

import (
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport"
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
		parts = append(parts, Last(s, tailBytes))
	}
	return strings.Join(parts, "\n")
}

// Last returns the end of s, at most n bytes after an ellipsis, cut where
// no secret is cut in two: at the start of a line, else (one long line)
// after a space or tab. Text is scrubbed again where it is shown, with the
// run's secrets, and a secret cut in two would no longer be found there.
// A single line longer than n without a space is left out.
func Last(s string, n int) string {
	if len(s) <= n {
		return s
	}
	end := s[len(s)-n:]
	if i := strings.IndexByte(end, '\n'); i >= 0 {
		return "…" + end[i+1:]
	}
	if i := strings.IndexAny(end, " \t"); i >= 0 {
		return "…" + end[i+1:]
	}
	last := s[strings.LastIndexByte(s, '\n')+1:]
	return fmt.Sprintf("…(a line of %d bytes without a space, not shown)", len(last))
}

// Scrub replaces each non-empty secret in s by secret.Redacted, in every
// form it may be printed in (see secret.Scrubber).
func Scrub(s string, secrets []string) string {
	return secret.NewScrubber(secrets).Scrub(s)
}
