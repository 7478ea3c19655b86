package apt

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"

	"skiff/internal/module"
)

// NativePackages is the helper's kind for the package probe: one
// dpkg-query for every package task of a batch instead of one per task.
const NativePackages = "packages"

// packagesQuery is Probe's question to the helper.
type packagesQuery struct {
	Names []string `json:"names"`
}

// NativeProbe implements module.NativeProber. State "latest" (which asks
// apt-cache policy) and names with an architecture (dpkg-query prints
// lines for several architectures under one name) keep the fragment.
func (p *Package) NativeProbe() (string, any, bool) {
	if len(p.names) == 0 || p.state == "latest" {
		return "", nil, false
	}
	for _, n := range p.names {
		if strings.Contains(n, ":") || !nameRE.MatchString(n) {
			return "", nil, false
		}
	}
	return NativePackages, packagesQuery{Names: p.names}, true
}

// AnswerPackages is the helper's answerer for NativePackages. dpkg-query
// -W prints the packages it finds sorted by name, whatever the order of
// its arguments, and nothing for the others; so each task's part of one
// call for all names is, line for line, what its own call prints.
func AnswerPackages(queries [][]byte) []module.NativeAnswer {
	out := make([]module.NativeAnswer, len(queries))
	qs := make([]*packagesQuery, len(queries))
	seen := map[string]bool{}
	var all []string
	for i, raw := range queries {
		var q packagesQuery
		if json.Unmarshal(raw, &q) != nil || len(q.Names) == 0 {
			continue
		}
		ok := true
		for _, n := range q.Names {
			ok = ok && !strings.Contains(n, ":") && nameRE.MatchString(n)
		}
		if !ok {
			continue
		}
		qs[i] = &q
		for _, n := range q.Names {
			if !seen[n] {
				seen[n] = true
				all = append(all, n)
			}
		}
	}
	if len(all) == 0 {
		return out
	}
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		for i, q := range qs {
			if q != nil {
				out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: []byte("[nodpkg]\n")}, OK: true}
			}
		}
		return out
	}
	cmd := exec.Command("dpkg-query", append([]string{"-W", "-f=${Package} ${Status} ${Version}\n"}, all...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	stdout, err := cmd.Output()
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		return out // it did not run: every task runs its fragment
	}
	lines := strings.SplitAfter(string(stdout), "\n")
	for i, q := range qs {
		if q == nil {
			continue
		}
		mine := map[string]bool{}
		for _, n := range q.Names {
			mine[n] = true
		}
		var b bytes.Buffer
		b.WriteString("[dpkg]\n")
		for _, l := range lines {
			if name, _, _ := strings.Cut(l, " "); l != "" && mine[name] {
				b.WriteString(l)
			}
		}
		b.WriteString("[end]\n")
		out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: b.Bytes()}, OK: true}
	}
	return out
}
