package apt

import (
	"strings"
	"testing"
)

// A control file's first line may be empty (found by fuzzing: the parser
// indexed it): the helper declines, and dpkg-deb answers.
func TestParseControlDeclinesABlankFirstLine(t *testing.T) {
	for _, control := range []string{"\n", "\nPackage: a\nVersion: 1\n", "\n Package: a\n"} {
		if n, v, ok := parseControl([]byte(control)); ok {
			t.Errorf("%q: read %q %q, want a decline", control, n, v)
		}
	}
}

// Whatever a control file holds, the parser returns or declines, and what
// it answers is written in the file as dpkg-deb -f prints it.
func FuzzParseControl(f *testing.F) {
	for _, control := range controlCases {
		f.Add([]byte(control))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		name, version, ok := parseControl(data)
		if !ok {
			if name != "" || version != "" {
				t.Errorf("declined with %q %q", name, version)
			}
			return
		}
		if !debNameRE.MatchString(name) || !debVersionRE.MatchString(version) {
			t.Errorf("answered %q %q", name, version)
		}
		lines := strings.Split(string(data), "\n")
		if !contains(lines, "Package: "+name) || !contains(lines, "Version: "+version) {
			t.Errorf("answered %q %q, which the control file does not say as such:\n%q", name, version, data)
		}
	})
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}
