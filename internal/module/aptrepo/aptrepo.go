// Package aptrepo is the "apt_repository" task kind: an apt source in
// deb822 form, /etc/apt/sources.list.d/NAME.sources, whose Signed-By
// names the repository's own key, /etc/apt/keyrings/NAME.asc (a binary
// key is written armored), so the key vouches for that repository alone. Both files
// are written, compared and undone as the file kind's; the package lists
// of that repository alone are refreshed when either changed.
//
//	task "apt_repository" "nodesource" {
//	  name       = "nodesource"
//	  uris       = ["https://deb.nodesource.com/node_20.x"]
//	  suites     = ["nodistro"]
//	  components = ["main"]
//	  key        = "nodesource.asc"   # roles/NAME/files/, or the key itself
//	}
package aptrepo

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Folders of the sources and of the keys. Tests point them elsewhere.
var (
	SourcesDir = "/etc/apt/sources.list.d"
	KeyringDir = "/etc/apt/keyrings"
)

// digestDir is where the host keeps the file kind's digest records ("":
// filestate's default). Tests point it elsewhere.
var digestDir = ""

const armorBegin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"

var (
	// apt reads only files of sources.list.d named with these.
	namePattern = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*$`)
	// A deb822 field value: one line, no field syntax.
	valuePattern = regexp.MustCompile(`^[^\s#]+$`)
	typesAllowed = map[string]bool{"deb": true, "deb-src": true}
)

// Serves: apt manages Debian-family hosts only.
func Serves(s module.System) error {
	if s.Is("debian", "ubuntu") {
		return nil
	}
	return fmt.Errorf("the apt_repository kind manages apt's sources, on Debian and Ubuntu")
}

// Repo is one apt_repository task.
type Repo struct {
	name    string
	absent  bool
	sources *filestate.File
	key     *filestate.File

	// learned by Check, used by Apply
	keyCh, sourcesCh bool
}

var (
	_ module.Module        = (*Repo)(nil)
	_ module.Reversible    = (*Repo)(nil)
	_ module.ContentWriter = (*Repo)(nil)
	_ module.NativeProber  = (*Repo)(nil)
)

// New is the module.Factory of the "apt_repository" kind.
func New(a *module.Args) module.Module {
	a.RejectSensitive("name", "uris", "suites", "components", "types", "architectures", "key")
	r := &Repo{name: a.String("name", true), absent: a.OneOf("state", "present", "present", "absent") == "absent"}
	if r.name != "" && !namePattern.MatchString(r.name) {
		a.Errorf("name", "name %q must be made of letters, digits, '_', '-' and '.' (it names the files, and apt ignores files with other names).", r.name)
		r.name = ""
	}
	uris := list(a, "uris", !r.absent)
	suites := list(a, "suites", !r.absent)
	components := list(a, "components", false)
	types := list(a, "types", false)
	if len(types) == 0 {
		types = []string{"deb"}
	}
	for _, t := range types {
		if !typesAllowed[t] {
			a.Errorf("types", "types must be \"deb\" or \"deb-src\", not %q.", t)
		}
	}
	archs := list(a, "architectures", false)
	for _, s := range suites {
		if strings.HasSuffix(s, "/") && len(components) > 0 {
			a.Errorf("components", "A suite that is a path (%q, a flat repository) takes no components.", s)
		} else if !strings.HasSuffix(s, "/") && len(components) == 0 && a.Has("suites") && !a.Unknown("components") {
			a.Errorf("components", "Give the components of suite %q (\"main\"…), or write the suite as a path ending in / for a flat repository.", s)
		}
	}
	for _, u := range uris {
		if !strings.Contains(u, ":/") {
			a.Errorf("uris", "%q is not a URI such as https://deb.example.org/debian.", u)
		}
	}

	var key []byte
	if !r.absent {
		key = keyArg(a)
	}
	known := !a.Unknown("name") && !a.Unknown("uris") && !a.Unknown("suites") && !a.Unknown("components") &&
		!a.Unknown("types") && !a.Unknown("architectures") && !a.Unknown("key") && key != nil
	if r.name == "" {
		return r
	}
	keyPath := path.Join(KeyringDir, r.name+".asc")
	r.key = filestate.New(filestate.Spec{
		Path: keyPath, Content: key, Known: known, Absent: r.absent, Source: "the apt_repository task's key",
		Meta: filestate.Meta{Owner: "root", Group: "root", Mode: 0o644, HasMode: true}, DigestDir: digestDir,
	})
	r.sources = filestate.New(filestate.Spec{
		Path:    path.Join(SourcesDir, r.name+".sources"),
		Content: []byte(Render(r.name, types, uris, suites, components, archs, keyPath)), Known: known, Absent: r.absent,
		Source: "the apt_repository task's arguments",
		Meta:   filestate.Meta{Owner: "root", Group: "root", Mode: 0o644, HasMode: true}, DigestDir: digestDir,
	})
	return r
}

// list reads a list of deb822 values (a single string is a list of one).
func list(a *module.Args, name string, required bool) []string {
	if required && !a.Has(name) {
		a.Errorf(name, "Argument %q is required.", name)
		return nil
	}
	l := a.StringList(name)
	for _, v := range l {
		if !valuePattern.MatchString(v) {
			a.Errorf(name, "%q is not a single word: each of %s is one value, without blanks or '#'.", v, name)
			return nil
		}
	}
	if required && len(l) == 0 && !a.Unknown(name) {
		a.Errorf(name, "%s must not be empty.", name)
	}
	return l
}

// keyArg reads key: an ASCII-armored public key given as it is, or a
// local file (the role's files/ folder, or an absolute path) holding an
// armored or binary key.
func keyArg(a *module.Args) []byte {
	if !a.Has("key") {
		a.Errorf("key", "Give the repository's signing key: its ASCII-armored text, or a file of the role's files/ folder. apt then trusts it for this repository alone.")
		return nil
	}
	v := a.String("key", true)
	if v == "" || a.Unknown("key") {
		return nil
	}
	if strings.Contains(v, armorBegin) {
		return checkKey(a, []byte(v), "the key argument")
	}
	p := v
	if !filepath.IsAbs(p) {
		p = filepath.Join(a.RoleDir, "files", v)
	}
	b, err := a.ReadLocal(p)
	if err != nil {
		a.Errorf("key", "key is neither an ASCII-armored public key (%s…) nor a readable file: %s.", armorBegin, err)
		return nil
	}
	return checkKey(a, b, p)
}

func checkKey(a *module.Args, b []byte, from string) []byte {
	switch {
	case bytes.Contains(b, []byte(armorBegin)):
		if !bytes.Contains(b, []byte("-----END PGP PUBLIC KEY BLOCK-----")) {
			a.Errorf("key", "%s has no line -----END PGP PUBLIC KEY BLOCK-----.", from)
			return nil
		}
		return b
	case len(b) == 0 || b[0]&0x80 == 0:
		// An OpenPGP packet's first byte has its high bit set.
		a.Errorf("key", "%s is neither an ASCII-armored public key nor a binary OpenPGP key.", from)
		return nil
	}
	return Armor(b)
}

// Armor returns a binary OpenPGP public key in ASCII armor (RFC 4880,
// section 6), the form apt reads from a .asc file.
func Armor(key []byte) []byte {
	var b bytes.Buffer
	b.WriteString(armorBegin + "\n\n")
	enc := base64.StdEncoding.EncodeToString(key)
	for len(enc) > 64 {
		b.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	b.WriteString(enc + "\n")
	crc := crc24(key)
	b.WriteString("=" + base64.StdEncoding.EncodeToString([]byte{byte(crc >> 16), byte(crc >> 8), byte(crc)}) + "\n")
	b.WriteString("-----END PGP PUBLIC KEY BLOCK-----\n")
	return b.Bytes()
}

// crc24 is the armor's checksum (RFC 4880, section 6.1).
func crc24(data []byte) uint32 {
	crc := uint32(0xB704CE)
	for _, d := range data {
		crc ^= uint32(d) << 16
		for i := 0; i < 8; i++ {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= 0x1864CFB
			}
		}
	}
	return crc & 0xFFFFFF
}

// Render is the sources file.
func Render(name string, types, uris, suites, components, archs []string, keyPath string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# skiff manages this file (apt_repository task %q): changes made here are overwritten.\n", name)
	field := func(k string, v []string) {
		if len(v) > 0 {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(v, " "))
		}
	}
	field("Types", types)
	field("URIs", uris)
	field("Suites", suites)
	field("Components", components)
	field("Architectures", archs)
	field("Signed-By", []string{keyPath})
	return b.String()
}

// separator is the line between the key's probe output and the sources'.
const separator = "[apt_repository sources]"

// Probe prints the key's file probe, the separator line, then the
// sources file's probe; each runs in its own subshell.
func (r *Repo) Probe() string {
	if r.sources == nil {
		return ""
	}
	return "(\n" + r.key.Probe() + ")\necho " + shell.Quote(separator) + "\n(\n" + r.sources.Probe() + ")\n"
}

// split cuts the probe output at the separator.
func split(out []byte) (key, sources []byte, ok bool) {
	key, sources, ok = bytes.Cut(out, []byte("\n"+separator+"\n"))
	return append(key, '\n'), sources, ok
}

// Check compares both files with the wanted ones.
func (r *Repo) Check(p module.Probed) (*module.Change, error) {
	r.keyCh, r.sourcesCh = false, false
	if r.sources == nil {
		return nil, fmt.Errorf("apt_repository: no usable name")
	}
	ko, so, ok := split(p.Stdout)
	if !ok {
		return nil, fmt.Errorf("%s: the probe printed no %s line", r.sources.Path, separator)
	}
	kch, err := r.key.Check(module.Probed{Stdout: ko})
	if err != nil {
		return nil, err
	}
	sch, err := r.sources.Check(module.Probed{Stdout: so})
	if err != nil {
		return nil, err
	}
	r.keyCh, r.sourcesCh = kch != nil, sch != nil
	if kch != nil {
		// Apply makes the keyrings folder.
		kch.Summary = strings.Replace(kch.Summary, " does not exist yet)", " does not exist yet: made)", 1)
	}
	if kch == nil && sch == nil {
		return nil, nil
	}
	var parts []string
	ch := &module.Change{Action: plan.Update}
	for _, c := range []*module.Change{kch, sch} {
		if c != nil {
			parts = append(parts, c.Summary)
			ch.Diff += c.Diff
		}
	}
	switch {
	case r.absent:
		ch.Action = plan.Delete
	case kch != nil && kch.Action == plan.Create && (sch == nil || sch.Action == plan.Create):
		ch.Action = plan.Create
	}
	s := strings.Join(parts, "; ")
	if !r.absent {
		s += "; refresh the package lists of " + r.name
	}
	ch.Summary = s
	return ch, nil
}

// Written implements module.ContentWriter: the sources file's content
// when it is written, else the key's.
func (r *Repo) Written() ([]byte, string, bool) {
	if r.sourcesCh {
		if b, s, ok := r.sources.Written(); ok {
			return b, s, ok
		}
	}
	if r.keyCh {
		return r.key.Written()
	}
	return nil, "", false
}

// Apply writes the key, then the sources file, as the file kind writes
// files, then refreshes the package lists of this repository alone. For
// state absent, the sources file goes first.
func (r *Repo) Apply(ctx context.Context, t transport.Transport) error {
	if r.absent {
		for _, f := range []struct {
			ch bool
			f  *filestate.File
		}{{r.sourcesCh, r.sources}, {r.keyCh, r.key}} {
			if f.ch {
				if err := f.f.Apply(ctx, t); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if r.keyCh {
		// The keyrings folder is missing before Debian 12 and Ubuntu 22.04.
		mk := filestate.EnterScript + fmt.Sprintf("skiff_enter %s create || exit 1\n", shell.Quote(KeyringDir))
		if err := shell.Run(ctx, t, "make "+KeyringDir, mk, nil); err != nil {
			return err
		}
		if err := r.key.Apply(ctx, t); err != nil {
			return err
		}
	}
	if r.sourcesCh {
		if err := r.sources.Apply(ctx, t); err != nil {
			return err
		}
	}
	return shell.Run(ctx, t, "refresh the package lists of "+r.name, r.refreshScript(), nil)
}

// refreshScript runs apt-get update on this repository's sources file
// alone (the host's other sources are not read, nor their lists
// removed), failing on any error, a missing or bad signature included.
func (r *Repo) refreshScript() string {
	return fmt.Sprintf("DEBIAN_FRONTEND=noninteractive apt-get update -q --error-on=any -o Dir::Etc::SourceList=%s -o Dir::Etc::SourceParts=/dev/null -o APT::Get::List-Cleanup=false </dev/null\n",
		shell.Quote(r.sources.Path))
}

// Reversal implements module.Reversible: both files as they were (or
// their absence) come back; after the rollback, the repository's lists
// are refreshed when its sources file is there again.
func (r *Repo) Reversal(dir string) (backup, undo, after string) {
	if r.sources == nil {
		return "", "", ""
	}
	kb, ku := filestate.Reversal(r.key.Path, path.Join(dir, "key"))
	sb, su := filestate.Reversal(r.sources.Path, path.Join(dir, "sources"))
	mk := fmt.Sprintf("mkdir -m 700 -- %s %s || exit 1\n", shell.Quote(path.Join(dir, "key")), shell.Quote(path.Join(dir, "sources")))
	backup = mk + "(\n" + kb + ") || exit 1\n(\n" + sb + ") || exit 1\n"
	undo = "(\n" + su + ") || exit 1\n(\n" + ku + ") || exit 1\n"
	after = fmt.Sprintf("if [ -f %s ]; then\n%sfi\n", shell.Quote(r.sources.Path), r.refreshScript())
	return backup, undo, after
}
