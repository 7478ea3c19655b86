package apt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strings"
	"syscall"

	"github.com/skiffdeploy/skiff/internal/module"
)

// NativePackages is the helper's kind for the package probe: one
// dpkg-query for every package task of a batch instead of one per task,
// and a deb task's .deb read in Go instead of by dpkg-deb (see readDeb).
const NativePackages = "packages"

// Natives are the package kind's native answerers, for its registration.
var Natives = map[string]module.NativeAnswerer{NativePackages: AnswerPackages}

// packagesQuery is Probe's question to the helper: Names, or Deb (the
// path of a deb task's .deb).
type packagesQuery struct {
	Names []string `json:"names"`
	Deb   string   `json:"deb,omitempty"`
}

// NativeProbe implements module.NativeProber. State "latest" (which asks
// apt-cache policy) and names with an architecture (dpkg-query prints
// lines for several architectures under one name) keep the fragment.
func (p *Package) NativeProbe() (string, any, bool) {
	if p.deb != "" {
		return NativePackages, packagesQuery{Deb: p.deb}, true
	}
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
// call for all names is, line for line, what its own call prints. That
// output is read from dpkg's status file when dpkgQuery can, else
// dpkg-query runs. A deb task's .deb is read first (readDeb; when it
// cannot, the task's fragment runs), and its package joins the names.
func AnswerPackages(queries [][]byte) []module.NativeAnswer {
	out := make([]module.NativeAnswer, len(queries))
	qs := make([]*packagesQuery, len(queries))
	for i, raw := range queries {
		var q packagesQuery
		if json.Unmarshal(raw, &q) != nil {
			continue
		}
		ok := len(q.Names) > 0 && q.Deb == "" || len(q.Names) == 0 && path.IsAbs(q.Deb)
		for _, n := range q.Names {
			ok = ok && !strings.Contains(n, ":") && nameRE.MatchString(n)
		}
		if ok {
			qs[i] = &q
		}
	}
	answer := func(i int, stdout string) {
		out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: []byte(stdout)}, OK: true}
	}
	_, noQuery := exec.LookPath("dpkg-query")
	_, noDeb := exec.LookPath("dpkg-deb")
	// What each task answered here asks dpkg-query about: its names, or
	// its deb's package.
	mine := make([]map[string]bool, len(queries))
	debs := make([]string, len(queries)) // the fragment's [deb] section
	seen := map[string]bool{}
	var all []string
	for i, q := range qs {
		switch {
		case q == nil:
			continue
		case noQuery != nil || q.Deb != "" && noDeb != nil:
			answer(i, "[nodpkg]\n")
			continue
		case q.Deb != "":
			if _, err := os.Stat(q.Deb); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				answer(i, "[nodeb]\n[end]\n") // what [ ! -e ] finds
				continue
			}
			name, version, ok := readDeb(q.Deb)
			if !ok {
				continue // the fragment runs
			}
			debs[i] = "Package: " + name + "\nVersion: " + version + "\n"
			mine[i] = map[string]bool{name: true}
		default:
			mine[i] = map[string]bool{}
			for _, n := range q.Names {
				mine[i][n] = true
			}
		}
		for n := range mine[i] {
			if !seen[n] {
				seen[n] = true
				all = append(all, n)
			}
		}
	}
	if len(all) == 0 {
		return out
	}
	stdout, ok := dpkgQuery(all) // the status file read here, or:
	if !ok {
		cmd := exec.Command("dpkg-query", append([]string{"-W", "-f=${Package} ${Status} ${Version}\n"}, all...)...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		raw, err := cmd.Output()
		if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
			return out // it did not run: every task runs its fragment
		}
		stdout = string(raw)
	}
	lines := strings.SplitAfter(stdout, "\n")
	for i := range qs {
		if mine[i] == nil {
			continue
		}
		var b bytes.Buffer
		if qs[i].Deb != "" {
			b.WriteString("[deb]\n" + debs[i])
		}
		b.WriteString("[dpkg]\n")
		for _, l := range lines {
			if name, _, _ := strings.Cut(l, " "); l != "" && mine[i][name] {
				b.WriteString(l)
			}
		}
		b.WriteString("[end]\n")
		out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: b.Bytes()}, OK: true}
	}
	return out
}
