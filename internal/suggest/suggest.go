// Package suggest finds the name a misspelt one most likely meant, for
// "did you mean" hints in diagnostics.
package suggest

import (
	"fmt"
	"sort"
)

// DidYouMean is " Did you mean "x"?" for the candidate nearest to name, or
// "" when none is close: a sentence to append to a diagnostic's detail.
func DidYouMean(name string, candidates []string) string {
	if near := Nearest(name, candidates); near != "" {
		return fmt.Sprintf(" Did you mean %q?", near)
	}
	return ""
}

// Keys returns a map's keys sorted, as candidates whose ties resolve the
// same way every run.
func Keys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Nearest returns the candidate closest to name in edits (a letter added,
// removed or changed, or two neighbours swapped), or "" when none is close
// enough to be a likely misspelling: one edit, or two in a name of ten
// letters or more. Ties go to the earliest candidate.
func Nearest(name string, candidates []string) string {
	limit := min(max(len([]rune(name))/5, 1), 2)
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of adjacent letters that turn a into b (optimal string alignment).
func editDistance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// d[i][j] is the distance between s[:i] and t[:j].
	d := make([][]int, len(s)+1)
	for i := range d {
		d[i] = make([]int, len(t)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(s); i++ {
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(s)][len(t)]
}
