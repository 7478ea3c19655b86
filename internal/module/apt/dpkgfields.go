package apt

import (
	"strings"
)

// trimBlank drops leading spaces and tabs.
func trimBlank(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// statusWords splits a Status field into its three words, when each is
// one dpkg-query prints as read (not triggers-awaited or -pending, which it
// may fix up).
func statusWords(s string) (want, status string, ok bool) {
	want, rest, _ := strings.Cut(s, " ")
	eflag, status, _ := strings.Cut(rest, " ")
	switch want {
	case "unknown", "install", "hold", "deinstall", "purge":
	default:
		return "", "", false
	}
	switch eflag {
	case "ok", "reinstreq":
	default:
		return "", "", false
	}
	switch status {
	case "not-installed", "config-files", "half-installed", "unpacked", "half-configured", "installed":
	default:
		return "", "", false
	}
	return want, status, true
}

// isRelationField reports whether a (lowercase) field names packages that
// dpkg-query then knows.
func isRelationField(k string) bool {
	switch k {
	case "depends", "pre-depends", "recommends", "suggests", "enhances", "breaks", "conflicts", "replaces", "provides":
		return true
	}
	return false
}

// isPackageName reports whether s is a package name as dpkg writes it:
// [a-z0-9][a-z0-9+.-]*.
func isPackageName(s string) bool {
	if s == "" || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '+' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// isFieldName: [A-Za-z0-9][A-Za-z0-9_-]* (dpkg allows more; the helper
// declines then).
func isFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || i > 0 && (c == '_' || c == '-')) {
			return false
		}
	}
	return s != ""
}

// isStatusVersion reports whether ${Version} prints s as written: an
// optional epoch other than 0, an upstream part starting with a digit,
// [A-Za-z0-9.+~-] (no colon), no empty revision.
func isStatusVersion(s string) bool {
	if e := strings.IndexByte(s, ':'); e >= 0 {
		epoch := s[:e]
		if epoch == "" || epoch[0] == '0' {
			return false
		}
		for i := 0; i < len(epoch); i++ {
			if epoch[i] < '0' || epoch[i] > '9' {
				return false
			}
		}
		s = s[e+1:]
	}
	if s == "" || s[0] < '0' || s[0] > '9' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '+' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

// relationNames checks the package names of a relation field and adds to
// known those in want.
func relationNames(v string, want, known map[string]bool) bool {
	for v != "" {
		v = trimBlank(v)
		n := 0
		for n < len(v) && (isLowerAlnum(v[n]) || n > 0 && (v[n] == '+' || v[n] == '.' || v[n] == '-')) {
			n++
		}
		if n == 0 {
			return false
		}
		if want[v[:n]] {
			known[v[:n]] = true
		}
		v = v[n:]
		if v != "" {
			switch v[0] {
			case ' ', '\t', '(', ':', ',', '|':
			default:
				return false
			}
		}
		// The rest of this alternative: architecture, version.
		i := strings.IndexAny(v, ",|")
		if i < 0 {
			break
		}
		v = v[i+1:]
		if trimBlank(v) == "" {
			return false // an empty alternative
		}
	}
	return true
}
