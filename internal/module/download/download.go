// Package download is the "download" task kind: a file fetched by the
// host itself (with curl, or wget where curl is missing) and kept only
// when its sha256 is the wanted one. The file's digest is probed as the
// file kind probes it (from the host's digest record while the file is
// unchanged), so a file already in place is never fetched again.
//
//	task "download" "node_exporter" {
//	  url    = "https://example.org/node_exporter-1.8.2.linux-amd64.tar.gz"
//	  path   = "/opt/dist/node_exporter-1.8.2.tar.gz"
//	  sha256 = "6809dd0b3ec45fd6e992c19071d6b5253aed3ead7bf0686885a51d85c6643c66"
//	}
package download

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Fetchers are where the probe looks for a program to fetch with, in
// order: curl first, then wget. Absolute paths, so that the program that
// runs is the one the probe found, whatever PATH a login sets.
var Fetchers = []string{
	"/usr/local/bin/curl", "/usr/bin/curl", "/bin/curl",
	"/usr/local/bin/wget", "/usr/bin/wget", "/bin/wget",
}

// maxChecksums is how much of a checksum_url file the probe reads.
const maxChecksums = 1 << 20

// digestDir is where the host keeps the file kind's digest records ("":
// filestate's default). Tests point it elsewhere.
var digestDir = ""

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Download is one download task.
type Download struct {
	url, checksumURL string
	sha256           string // wanted; from checksum_url, learned by Check
	file             *filestate.File
	meta             filestate.Meta

	// learned by Check, used by Apply
	st       filestate.Stat
	fetcher  string
	fetch    bool // the content differs: fetch it
	metaOnly bool // only owner, group or mode differ
}

var (
	_ module.Module       = (*Download)(nil)
	_ module.Reversible   = (*Download)(nil)
	_ module.NativeProber = (*Download)(nil)
)

// New is the module.Factory of the "download" kind.
func New(a *module.Args) module.Module {
	a.RejectSensitive("url", "checksum_url", "sha256")
	d := &Download{meta: filestate.MetaArgs(a)}
	p := filestate.PathArg(a, "path")
	d.url = urlArg(a, "url", true)
	d.checksumURL = urlArg(a, "checksum_url", false)
	switch {
	case a.Has("sha256") && a.Has("checksum_url"):
		a.Errorf("checksum_url", "Give either sha256 or checksum_url, not both.")
	case a.Has("sha256"):
		d.sha256 = strings.ToLower(a.String("sha256", true))
		if !sha256Pattern.MatchString(d.sha256) && !a.Unknown("sha256") {
			a.Errorf("sha256", "sha256 must be 64 hexadecimal digits, not %q.", d.sha256)
		}
	case !a.Has("checksum_url"):
		a.Errorf("sha256", "Give the file's sha256 (or a checksum_url the host reads it from): skiff keeps only a file whose digest it knows.")
	}
	// Only the stat and the digest of the file are read (Known false: no
	// content comes back for a diff).
	d.file = filestate.New(filestate.Spec{Path: p, Meta: d.meta, DigestDir: digestDir})
	return d
}

// urlArg reads an http or https URL. Nothing else is accepted, so that a
// URL can never be read as an option of the program that fetches it.
func urlArg(a *module.Args, name string, required bool) string {
	s := a.String(name, required)
	if s == "" || a.Unknown(name) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(s, " \t\r\n\x00") {
		a.Errorf(name, "%s must be an http:// or https:// URL, not %q.", name, s)
		return ""
	}
	return s
}

func (d *Download) path() string { return d.file.Path }

// Probe prints the file probe's lines (type, stat, sha256), then
// "fetcher=PATH" when the host has curl or wget; with checksum_url, the
// fetcher's exit code reading it ("checksum_exit=N") and, when it read it,
// a "[checksums]" line followed by the file in base64.
func (d *Download) Probe() string {
	if d.path() == "" || d.url == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(d.file.Probe())
	b.WriteString(fetcherScript())
	if d.checksumURL != "" {
		b.WriteString("if [ -n \"$f\" ]; then\n")
		fmt.Fprintf(&b, "  c=$(%s); x=$?\n", getCommand("-", d.checksumURL))
		b.WriteString("  echo \"checksum_exit=$x\"\n")
		fmt.Fprintf(&b, "  [ \"$x\" = 0 ] && { echo '[checksums]'; printf '%%s\\n' \"$c\" | head -c %d | base64; }\n", maxChecksums)
		b.WriteString("fi\n")
	}
	return b.String()
}

// fetcherScript sets f to the first of Fetchers present and prints it.
func fetcherScript() string {
	q := make([]string, len(Fetchers))
	for i, f := range Fetchers {
		q[i] = shell.Quote(f)
	}
	return "f=; for x in " + strings.Join(q, " ") + "; do if [ -x \"$x\" ]; then f=$x; echo \"fetcher=$x\"; break; fi; done\n"
}

// getCommand is the sh command that fetches u with the program in "$f"
// (curl or wget) to out ("-": stdout), failing on an HTTP error. Neither
// is told to skip the certificate check: an https URL's certificate is
// verified against the host's CAs.
func getCommand(out, u string) string {
	// curl: -f fails on HTTP errors; --proto limits the URL and any
	// redirect to http(s). wget fails on HTTP errors by itself.
	return fmt.Sprintf(`case "$f" in */curl) "$f" -fsSL --proto =http,https --proto-redir =http,https -o %s --url %s ;; *) "$f" -q -O %s %s ;; esac`,
		shell.Quote(out), shell.Quote(u), shell.Quote(out), shell.Quote(u))
}

// Check compares the file on the host with the wanted digest.
func (d *Download) Check(p module.Probed) (*module.Change, error) {
	d.fetch, d.metaOnly = false, false
	head, sums, hasSums := bytes.Cut(p.Stdout, []byte("\n[checksums]\n"))
	fields := shell.Fields(head)
	st, err := filestate.ParseStat(fields)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.path(), err)
	}
	d.st, d.fetcher = st, fields["fetcher"]
	if d.checksumURL != "" {
		if d.fetcher == "" {
			return nil, d.noFetcher()
		}
		if !hasSums {
			return nil, fmt.Errorf("%s: the host cannot read checksum_url %s (%s exit code %s)", d.path(), d.checksumURL, path.Base(d.fetcher), fields["checksum_exit"])
		}
		text, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(sums), nil)))
		if err != nil {
			return nil, fmt.Errorf("%s: probe printed bad base64 checksums: %w", d.path(), err)
		}
		if d.sha256, err = ChecksumFor(string(text), d.url); err != nil {
			return nil, fmt.Errorf("%s: checksum_url %s: %w", d.path(), d.checksumURL, err)
		}
	}

	switch st.Type {
	case filestate.Absent:
		d.fetch = true
		if d.fetcher == "" {
			return nil, d.noFetcher()
		}
		s := fmt.Sprintf("download %s to %s (sha256 %s)", d.url, d.path(), short(d.sha256))
		if !st.ParentExists {
			s += fmt.Sprintf(" (parent directory %s does not exist yet)", path.Dir(d.path()))
		}
		return &module.Change{Action: plan.Create, Summary: s}, nil
	case filestate.Regular:
	default:
		return nil, fmt.Errorf("%s is %s, not a regular file: remove it first or choose another path", d.path(), filestate.Describe(st.Type))
	}
	have := fields["sha256"]
	if len(have) != 64 {
		return nil, fmt.Errorf("%s: cannot read the file's sha256 (probe printed %q)", d.path(), have)
	}
	var parts []string
	if have != d.sha256 {
		d.fetch = true
		if d.fetcher == "" {
			return nil, d.noFetcher()
		}
		parts = append(parts, fmt.Sprintf("sha256 %s -> %s", short(have), short(d.sha256)))
	}
	parts = append(parts, d.meta.Diff(st)...)
	if len(parts) == 0 {
		return nil, nil
	}
	d.metaOnly = !d.fetch
	s := "update " + d.path() + ": " + strings.Join(parts, ", ")
	if d.fetch {
		s = fmt.Sprintf("download %s to %s: %s", d.url, d.path(), strings.Join(parts, ", "))
	}
	return &module.Change{Action: plan.Update, Summary: s}, nil
}

func (d *Download) noFetcher() error {
	return fmt.Errorf("%s: the host has neither curl nor wget to download %s with: install one in an earlier play, or put the file in place with the file kind", d.path(), d.url)
}

// short is the first 12 digits of a digest, for plan lines.
func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// ChecksumFor finds the sha256 of the file u names in a checksum file:
// lines "SUM  NAME" or "SUM *NAME" (sha256sum's), "SHA256 (NAME) = SUM"
// (BSD's), or a file holding a single digest alone.
func ChecksumFor(text, u string) (string, error) {
	name := u
	if p, err := url.Parse(u); err == nil {
		name = p.Path
	}
	name = path.Base(name)
	var lone []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && sha256Pattern.MatchString(strings.ToLower(f[0])):
			lone = append(lone, strings.ToLower(f[0]))
		case len(f) == 2 && sha256Pattern.MatchString(strings.ToLower(f[0])):
			if path.Base(strings.TrimPrefix(f[1], "*")) == name {
				return strings.ToLower(f[0]), nil
			}
		case len(f) == 4 && f[0] == "SHA256" && f[2] == "=" && f[1] == "("+name+")" && sha256Pattern.MatchString(strings.ToLower(f[3])):
			return strings.ToLower(f[3]), nil
		}
	}
	if len(lone) == 1 {
		return lone[0], nil
	}
	return "", fmt.Errorf("no sha256 for %s in it", name)
}

// Apply fetches the file into skiff's root-only staging folder (or, when
// only the owner or mode differ, copies the file there), checks that the
// staged bytes have the wanted sha256, and places them as the file kind
// places a file: renamed over the path from a private folder beside it,
// so a link planted on the way is never followed.
func (d *Download) Apply(ctx context.Context, t transport.Transport) error {
	staged := filestate.StagedPath()
	var b strings.Builder
	fmt.Fprintf(&b, "umask 077\nmkdir -p -- %s || exit 1\ns=%s\nf=%s\n", shell.Quote(filestate.StagingDir), shell.Quote(staged), shell.Quote(d.fetcher))
	b.WriteString("trap 'rm -f -- \"$s\"' EXIT\ntrap 'exit 1' HUP INT TERM\n")
	what := "download " + d.url
	if d.metaOnly {
		// The copy is read through the path as it is now; whatever it
		// reads must still have the wanted digest to be placed.
		fmt.Fprintf(&b, "cat < %s > \"$s\" || exit 1\n", shell.Quote(d.path()))
		what = "copy " + d.path()
	} else {
		fmt.Fprintf(&b, "[ -x \"$f\" ] || { printf '%%s\\n' \"skiff: $f is gone: neither curl nor wget to download with\" >&2; exit 1; }\n")
		b.WriteString(getCommand(staged, d.url) + " || exit 1\n")
	}
	b.WriteString("got=$(sha256sum < \"$s\") && got=${got%% *} || exit 1\n")
	fmt.Fprintf(&b, "[ \"$got\" = %s ] || { printf '%%s\\n' %s\"$got\"%s >&2; exit 1; }\n", shell.Quote(d.sha256),
		shell.Quote("skiff: "+d.url+": the content's sha256 is "), shell.Quote(", not "+d.sha256+": nothing placed"))
	b.WriteString("trap - EXIT\n")
	if err := shell.Run(ctx, t, what, b.String(), nil); err != nil {
		return err
	}

	// The final owner and mode: as wanted, else as the file has them now.
	m := d.meta
	if d.st.Type == filestate.Regular {
		if m.Owner == "" {
			m.Owner = d.st.UID
		}
		if m.Group == "" {
			m.Group = d.st.GID
		}
		if !m.HasMode {
			m.Mode, m.HasMode = d.st.Mode, true
		}
	} else if !m.HasMode {
		m.Mode, m.HasMode = 0o644, true
	}
	return shell.Run(ctx, t, "place "+d.path(), filestate.PlaceScript(filestate.Placement{Path: d.path(), Staged: staged, Meta: m}), nil)
}

// Reversal implements module.Reversible: the file as it was (or its
// absence) comes back, as for the file kind.
func (d *Download) Reversal(dir string) (backup, undo, after string) {
	if d.path() == "" {
		return "", "", ""
	}
	backup, undo = filestate.Reversal(d.path(), dir)
	return backup, undo, ""
}
