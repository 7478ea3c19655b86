// Package shell holds what modules need to write POSIX sh scripts and to read
// what those scripts print: single-quote quoting, key=value probe output, and
// errors built from a failed script's result.
package shell

import "strings"

// Quote returns s as one single-quoted sh word: the shell takes it literally
// (no expansion of $, `, \, globs), whatever s holds. Every value a module
// interpolates into a script goes through Quote.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each of words and joins them with spaces.
func Join(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}
