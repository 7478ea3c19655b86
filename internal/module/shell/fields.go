package shell

import "strings"

// Fields parses probe output made of "key=value" lines (the value is the rest
// of the line, spaces included). Lines without "=" are ignored; a repeated
// key keeps its last value. Probes print one key per line, so a value (a path
// from stat, say) can hold "=" but not a newline.
// A "\r" before a line's newline is dropped. It reads the lines in place:
// every file task of every host goes through here, and a scanner's own
// buffer would cost far more than the few lines it reads.
func Fields(out []byte) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Sections splits probe output at marker lines of the form "[name]" into the
// text of each section (without the marker line). Text before the first
// marker is under "".
func Sections(out []byte) map[string]string {
	m := map[string]string{}
	cur := ""
	var b strings.Builder
	flush := func() {
		m[cur] += b.String()
		b.Reset()
	}
	for _, line := range strings.SplitAfter(string(out), "\n") {
		t := strings.TrimRight(line, "\n")
		if len(t) > 2 && t[0] == '[' && t[len(t)-1] == ']' && !strings.ContainsAny(t[1:len(t)-1], "[] \t") {
			flush()
			cur = t[1 : len(t)-1]
			if _, ok := m[cur]; !ok {
				m[cur] = ""
			}
			continue
		}
		b.WriteString(line)
	}
	flush()
	return m
}
