package apt

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// The helper's reading of a .deb: what `dpkg-deb -f DEB Package Version`
// prints, found without dpkg-deb (which forks tar and a decompressor).
// It answers only for the plainest .debs, and declines (ok false) at the
// least doubt, so that the fragment runs and dpkg-deb has the last word:
//
//   - the ar archive must be "!<arch>\n", then the member debian-binary
//     holding exactly "2.0\n", then control.tar.gz or control.tar (an xz or
//     zstd control, or any member in between, declines);
//   - the control archive must hold plain files and folders, one of them
//     control, and no pax records;
//   - control must be one stanza of "Name: value" lines and continuation
//     lines, with Package and Version written as dpkg-deb prints them (a
//     lowercase name, a version without epoch), no field twice, and the
//     fields dpkg-deb checks (relations, Architecture, Essential…) in forms
//     it accepts, or the answer is left to it.
//
// dpkg-deb's parser checks every field; the checks here are a subset, made
// to accept what dpkg-deb --build produces (it refuses to build a control
// file that dpkg-deb -f could not read).

// Limits on what the helper reads: a control archive is a few KiB.
const (
	maxControlMember = 4 << 20
	maxControlTar    = 16 << 20
	maxControlFile   = 1 << 20
)

// readDeb returns the Package and Version of the .deb at path as dpkg-deb -f
// prints them; ok is false when the fragment must answer.
func readDeb(path string) (name, version string, ok bool) {
	control, err := debControl(path)
	if err != nil {
		return "", "", false
	}
	return parseControl(control)
}

var errDecline = errors.New("declined")

// debControl returns the content of the control file of the .deb at path.
func debControl(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, errDecline
	}
	magic := make([]byte, 8)
	if _, err := io.ReadFull(f, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, errDecline
	}
	name, data, err := arMember(f, 4)
	if err != nil || name != "debian-binary" || string(data) != "2.0\n" {
		return nil, errDecline
	}
	name, data, err = arMember(f, maxControlMember)
	if err != nil {
		return nil, err
	}
	var tr io.Reader
	switch name {
	case "control.tar":
		tr = bytes.NewReader(data)
	case "control.tar.gz":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, errDecline
		}
		tarData, err := io.ReadAll(io.LimitReader(zr, maxControlTar+1))
		if err != nil || len(tarData) > maxControlTar {
			return nil, errDecline
		}
		tr = bytes.NewReader(tarData)
	default: // control.tar.xz, control.tar.zst: dpkg-deb reads them
		return nil, errDecline
	}
	return tarControl(tr)
}

// arMember reads the next member of an ar archive: its name (without the
// "/" GNU ar appends) and content, at most max bytes.
func arMember(r io.Reader, max int64) (string, []byte, error) {
	hdr := make([]byte, 60)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return "", nil, errDecline
	}
	if string(hdr[58:60]) != "`\n" {
		return "", nil, errDecline
	}
	name := strings.TrimRight(string(hdr[0:16]), " ")
	name = strings.TrimSuffix(name, "/")
	size, err := strconv.ParseInt(strings.TrimRight(string(hdr[48:58]), " "), 10, 64)
	if err != nil || size < 0 || size > max {
		return "", nil, errDecline
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return "", nil, errDecline
	}
	if size%2 == 1 { // members start at even offsets
		pad := make([]byte, 1)
		if _, err := io.ReadFull(r, pad); err != nil || pad[0] != '\n' {
			return "", nil, errDecline
		}
	}
	return name, data, nil
}

// tarControl returns the content of ./control in a control archive made of
// plain files and folders only.
func tarControl(r io.Reader) ([]byte, error) {
	tr := tar.NewReader(r)
	var control []byte
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil || len(h.PAXRecords) > 0 {
			return nil, errDecline
		}
		name := strings.TrimPrefix(h.Name, "./")
		if strings.HasPrefix(name, "/") || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "/../") {
			return nil, errDecline
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, errDecline
		}
		if name != "control" {
			continue
		}
		if found || h.Size > maxControlFile {
			return nil, errDecline
		}
		found = true
		if control, err = io.ReadAll(tr); err != nil {
			return nil, errDecline
		}
	}
	if !found {
		return nil, errDecline
	}
	return control, nil
}

var (
	// fieldNameRE is a field name as the helper accepts it (dpkg is laxer).
	fieldNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	// debNameRE is a package name dpkg-deb prints unchanged (it lowercases).
	debNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*$`)
	// debVersionRE is a version dpkg-deb prints unchanged: no epoch (it
	// drops "0:"), an upstream part starting with a digit, no empty
	// revision.
	debVersionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~-]*$`)
	archRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	// relationRE is one package of a relation field, optionally with an
	// architecture and a version constraint.
	relationRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*(?::[a-z0-9][a-z0-9-]*)?(?:\s*\(\s*(<<|<=|=|>=|>>)\s*((?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*)\s*\))?$`)
)

// parseControl reads Package and Version from a binary package's control
// file, declining (ok false) unless sure dpkg-deb prints them as they are.
//
// One function on purpose: each rejection mirrors a rule of dpkg's
// control-file parser, read top to bottom beside it (fuzzed: FuzzParseControl).
//
//nolint:gocyclo // a parser of dpkg's format, a branch per rule
func parseControl(data []byte) (name, version string, ok bool) {
	s := string(data)
	if s == "" || !strings.HasSuffix(s, "\n") || strings.ContainsAny(s, "\r\x00") {
		return "", "", false
	}
	// One stanza, then at most blank lines.
	body := strings.TrimRight(s, "\n")
	if strings.Contains(body, "\n\n") {
		return "", "", false
	}
	type field struct {
		name  string // as written
		raw   string // first line, after the colon
		value string // first line, trimmed
		more  bool   // has continuation lines
		all   string // all lines, joined by spaces
	}
	var fields []*field
	seen := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" { // only the first can be: left to dpkg-deb
			return "", "", false
		}
		for _, c := range []byte(line) {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return "", "", false
			}
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return "", "", false
			}
			f := fields[len(fields)-1]
			f.more = true
			f.all += " " + strings.TrimSpace(line)
			continue
		}
		k, v, found := strings.Cut(line, ":")
		if !found || !fieldNameRE.MatchString(k) {
			return "", "", false
		}
		lk := strings.ToLower(k)
		if seen[lk] {
			return "", "", false
		}
		seen[lk] = true
		raw := v
		v = strings.Trim(v, " \t")
		if v == "" { // dpkg-deb refuses an empty value; a value on the next lines is odd
			return "", "", false
		}
		fields = append(fields, &field{name: k, raw: raw, value: v, all: v})
	}
	for _, f := range fields {
		switch strings.ToLower(f.name) {
		case "package":
			if f.name != "Package" || f.raw != " "+f.value || f.more || !debNameRE.MatchString(f.value) {
				return "", "", false
			}
			name = f.value
		case "version":
			if f.name != "Version" || f.raw != " "+f.value || f.more || !debVersionRE.MatchString(f.value) || strings.HasSuffix(f.value, "-") {
				return "", "", false
			}
			version = f.value
		case "architecture":
			if f.more || !archRE.MatchString(f.value) {
				return "", "", false
			}
		case "essential", "protected":
			if f.more || f.value != "yes" && f.value != "no" {
				return "", "", false
			}
		case "multi-arch": // "same" needs a real architecture: left to dpkg-deb
			if f.more || f.value != "no" && f.value != "foreign" && f.value != "allowed" {
				return "", "", false
			}
		case "depends", "pre-depends", "recommends", "suggests", "enhances":
			if !relations(f.all, true, false) {
				return "", "", false
			}
		case "breaks", "conflicts", "replaces":
			if !relations(f.all, false, false) {
				return "", "", false
			}
		case "provides":
			if !relations(f.all, false, true) {
				return "", "", false
			}
		case "status", "config-version", "conffiles", "triggers-pending", "triggers-awaited", "revision":
			// Refused in a .deb, or parsed in ways not checked here.
			return "", "", false
		}
	}
	if name == "" || version == "" {
		return "", "", false
	}
	return name, version, true
}

// relations reports whether v is a relation field dpkg-deb surely accepts:
// packages separated by commas (and by "|" where alternatives are allowed),
// with version constraints ("=" only when exactOnly).
func relations(v string, alternatives, exactOnly bool) bool {
	for _, item := range strings.Split(v, ",") {
		alts := []string{item}
		if alternatives {
			alts = strings.Split(item, "|")
		}
		for _, a := range alts {
			a = strings.TrimSpace(a)
			m := relationRE.FindStringSubmatch(a)
			if m == nil || strings.HasSuffix(m[2], "-") || exactOnly && m[1] != "" && m[1] != "=" {
				return false
			}
		}
	}
	return true
}
