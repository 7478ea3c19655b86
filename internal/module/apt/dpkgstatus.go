package apt

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The helper's reading of dpkg's database: what
//
//	dpkg-query -W -f='${Package} ${Status} ${Version}\n' NAMES...
//
// prints, found in /var/lib/dpkg/status without starting dpkg-query. It is
// what dpkg-query reads (strace shows: arch, status, the updates folder,
// triggers/File and triggers/Unincorp; no configuration file):
//
//   - dpkg-query knows the packages of the status file's stanzas, and also
//     every name the stanzas' relation fields (Depends, Provides…) and
//     triggers/File mention: for those it prints "NAME unknown ok
//     not-installed " (an empty version);
//   - it prints one line per package found, sorted by name (strcmp), and
//     nothing for a name it does not know;
//   - ${Version} drops a "0:" epoch; ${Status} is the Status field's three
//     words.
//
// It declines (ok false), and dpkg-query runs, whenever it could differ:
// DPKG_ADMINDIR or DPKG_ROOT in the environment (even empty); a journal in
// updates/ (files named by digits only, which dpkg-query would apply
// first); triggers to
// incorporate (a non-empty triggers/Unincorp) or awaited or pending in any
// stanza (dpkg-query fixes such states up in memory); a name asked for
// that has several stanzas (several architectures), a not-installed
// stanza (dpkg-query prints "purge ok not-installed" as "unknown ok
// not-installed") or an architecture-qualified trigger interest; and
// anything in the files it does not read with certainty.

// dpkgAdminDir is dpkg's database folder (tests point it at fixtures).
var dpkgAdminDir = "/var/lib/dpkg"

// dpkgStanza is what the helper keeps of one stanza of the status file.
type dpkgStanza struct {
	status, version, arch string
}

// dpkgQuery returns what dpkg-query -W -f='${Package} ${Status}
// ${Version}\n' prints for names (package names without architecture), or
// ok false when only dpkg-query can say.
func dpkgQuery(names []string) (out string, ok bool) {
	for _, v := range []string{"DPKG_ADMINDIR", "DPKG_ROOT"} {
		if _, set := os.LookupEnv(v); set { // even empty: dpkg-query takes it
			return "", false
		}
	}
	entries, err := os.ReadDir(filepath.Join(dpkgAdminDir, "updates"))
	if err != nil {
		return "", false
	}
	for _, e := range entries {
		if strings.Trim(e.Name(), "0123456789") == "" {
			return "", false // a journal dpkg-query would apply
		}
	}
	unincorp, err := os.ReadFile(filepath.Join(dpkgAdminDir, "triggers", "Unincorp"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) || len(unincorp) > 0 {
		return "", false
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	known := map[string]bool{}                // names asked about that are mentioned
	qualified := map[string]map[string]bool{} // name: architectures of its trigger interests
	interests, err := os.ReadFile(filepath.Join(dpkgAdminDir, "triggers", "File"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	for _, line := range strings.Split(string(interests), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, " ")
		if len(f) != 2 || f[0] == "" {
			return "", false
		}
		spec := strings.TrimSuffix(f[1], "/noawait")
		name, arch, hasArch := strings.Cut(spec, ":")
		if !isPackageName(name) || hasArch && !archRE.MatchString(arch) {
			return "", false
		}
		known[name] = known[name] || want[name]
		if hasArch {
			if qualified[name] == nil {
				qualified[name] = map[string]bool{}
			}
			qualified[name][arch] = true
		}
	}
	data, err := os.ReadFile(filepath.Join(dpkgAdminDir, "status"))
	if err != nil {
		return "", false
	}
	stanzas, ok := parseStatus(string(data), want, known)
	if !ok {
		return "", false
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	var b strings.Builder
	for i, n := range sorted {
		if i > 0 && sorted[i-1] == n {
			continue
		}
		st := stanzas[n]
		switch {
		case len(st) > 1:
			return "", false // several architectures
		case len(st) == 1:
			if strings.HasSuffix(st[0].status, " not-installed") {
				// dpkg-query may print another Status for a not-installed
				// stanza ("purge ok not-installed" as "unknown ok …").
				return "", false
			}
			for arch := range qualified[n] {
				if arch != st[0].arch { // dpkg-query adds a package of that architecture
					return "", false
				}
			}
			b.WriteString(n + " " + st[0].status + " " + st[0].version + "\n")
		case qualified[n] != nil:
			return "", false
		case known[n]:
			b.WriteString(n + " unknown ok not-installed \n")
		}
	}
	return b.String(), true
}

// parseStatus reads the stanzas of a status file for the names in want,
// and adds to known those of them that relation fields mention; ok is false
// at the least doubt. It reads every stanza (dpkg-query refuses a file it
// cannot parse), byte by byte: it runs on every probe of package tasks.
//
//nolint:gocyclo,funlen // a one-pass parser of dpkg's status file, a branch per rule
func parseStatus(data string, want, known map[string]bool) (map[string][]dpkgStanza, bool) {
	if data != "" && data[len(data)-1] != '\n' || strings.IndexByte(data, '\r') >= 0 || strings.IndexByte(data, 0) >= 0 {
		return nil, false
	}
	stanzas := map[string][]dpkgStanza{}
	var (
		cur       dpkgStanza
		name      string
		fields    = map[string]bool{} // the stanza's field names, lowercase
		lower     []byte
		nFields   int
		hasStatus bool
		hasVer    bool
		hasConfig bool
		last      string // lowercase name of the field continuation lines add to
		relation  []string
	)
	end := func() bool {
		if nFields == 0 {
			return true
		}
		defer func() {
			cur, name, nFields, hasStatus, hasVer, hasConfig, last, relation = dpkgStanza{}, "", 0, false, false, false, "", relation[:0]
			clear(fields)
		}()
		if !isPackageName(name) || !hasStatus {
			return false
		}
		selection, st, ok := statusWords(cur.status)
		if !ok {
			return false
		}
		switch {
		case hasConfig && (st == "installed" || st == "not-installed"):
			return false // dpkg-query refuses the file
		case hasVer && !isStatusVersion(cur.version):
			return false
		case !hasVer && st != "not-installed" && st != "half-installed":
			return false // dpkg-query refuses the file
		case st == "not-installed" && (hasVer || selection == "unknown"):
			return false // not a stanza dpkg writes
		}
		for _, v := range relation {
			if !relationNames(v, want, known) {
				return false
			}
		}
		if want[name] {
			stanzas[name] = append(stanzas[name], cur)
		}
		return true
	}
	for rest := data; rest != ""; {
		i := strings.IndexByte(rest, '\n')
		line := rest[:i]
		rest = rest[i+1:]
		switch {
		case line == "":
			if !end() {
				return nil, false
			}
		case line[0] == ' ' || line[0] == '\t':
			if last == "" || trimBlank(line) == "" {
				return nil, false
			}
			switch last {
			case "package", "status", "version", "architecture":
				return nil, false // read on one line only
			}
			if isRelationField(last) {
				relation[len(relation)-1] += " " + trimBlank(line)
			}
		default:
			c := strings.IndexByte(line, ':')
			if c <= 0 || !isFieldName(line[:c]) {
				return nil, false
			}
			lower = append(lower[:0], line[:c]...)
			for j, b := range lower {
				if 'A' <= b && b <= 'Z' {
					lower[j] = b + 'a' - 'A'
				}
			}
			if fields[string(lower)] {
				return nil, false // a field twice: dpkg-query refuses the file
			}
			k, common := commonFields[string(lower)]
			if !common {
				k = string(lower)
			}
			fields[k] = true
			nFields++
			last = k
			v := strings.Trim(line[c+1:], " \t")
			switch k {
			case "package", "status", "version", "architecture":
				if v == "" || strings.IndexByte(v, '\t') >= 0 || strings.Contains(v, "  ") {
					return nil, false
				}
				switch k {
				case "package":
					name = v
				case "status":
					cur.status, hasStatus = v, true
				case "version":
					cur.version, hasVer = v, true
				case "architecture":
					cur.arch = v
				}
			case "config-version":
				hasConfig = true
			case "triggers-pending", "triggers-awaited":
				return nil, false // dpkg-query fixes these states up
			default:
				if isRelationField(k) {
					if v == "" {
						return nil, false // dpkg-query refuses the file
					}
					relation = append(relation, v)
				}
			}
		}
	}
	if !end() {
		return nil, false
	}
	return stanzas, true
}

// commonFields are the usual field names of a status file, lowercase: the
// parser's keys for them need no allocation.
var commonFields = map[string]string{}

func init() {
	for _, f := range []string{"package", "status", "priority", "section", "installed-size", "maintainer",
		"architecture", "multi-arch", "source", "version", "depends", "pre-depends", "recommends", "suggests",
		"breaks", "conflicts", "replaces", "provides", "enhances", "conffiles", "description", "homepage",
		"essential", "protected", "built-using", "config-version", "original-maintainer", "important"} {
		commonFields[f] = f
	}
}
