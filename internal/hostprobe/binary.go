package hostprobe

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Dir is where a host keeps the helper: root-only, beside the deploy lock.
const Dir = "/var/lib/skiff/helper"

// Binary is a run's probe helper: a static Linux skiff for each processor
// it serves. The running skiff serves its own processor when it is such a
// binary; the builds embedded in it at build time (`make build` embeds the
// ones it cannot be itself, see embedded.go) serve the others. Every host
// keeps the build for its processor under one name (RemotePath), which
// changes with any of the builds.
type Binary struct {
	id     string
	builds map[string]build // by uname -m
	lack   string           // which processors have no build, and why; "" when none lack one

	mu    sync.Mutex
	noted map[string]bool // the processors Lacking spoke of
}

// build opens one helper executable's bytes.
type build struct {
	id   string // changes with every change to the executable
	open func() (io.ReadCloser, error)
}

// unameArch maps Go's processor names to uname -m's, for the processors
// skiff has a helper for.
var unameArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}

// Helpers returns the run's probe helper: the running skiff, when it is a
// static Linux binary, and the Linux builds embedded in it. It returns nil
// when there is none. note says plainly which processors' hosts are
// probed with sh alone, and why ("" when every processor has a helper).
func Helpers() (b *Binary, note string) {
	return assemble(self(), embedded)
}

// selfBuild is the running skiff as a helper, or why it cannot be one.
type selfBuild struct {
	goarch string
	path   string
	err    error
}

func self() selfBuild {
	s := selfBuild{goarch: runtime.GOARCH}
	if runtime.GOOS != "linux" {
		s.err = fmt.Errorf("it is built for %s/%s", runtime.GOOS, runtime.GOARCH)
		return s
	}
	s.path, s.err = os.Executable()
	return s
}

// embeddedName is where a build embeds the Linux helper for goarch,
// compressed.
func embeddedName(goarch string) string { return "helpers/skiff-linux-" + goarch + ".gz" }

// assemble builds the helper from the running skiff (s) and the embedded
// builds (files named by embeddedName); the running skiff serves its own
// processor when it can.
func assemble(s selfBuild, files fs.FS) (*Binary, string) {
	b := &Binary{builds: map[string]build{}}
	var why []string
	switch arch, ok := unameArch[s.goarch]; {
	case s.err != nil:
		why = append(why, s.err.Error())
	case !ok:
		why = append(why, "it is built for linux/"+s.goarch)
	default:
		if id, err := buildID(s.path); err == nil {
			path := s.path
			b.builds[arch] = build{id: id, open: func() (io.ReadCloser, error) { return os.Open(path) }}
		} else {
			why = append(why, "it "+err.Error())
		}
	}
	var missing []string
	for _, g := range slices.Sorted(maps.Keys(unameArch)) {
		arch := unameArch[g]
		if _, ok := b.builds[arch]; ok {
			continue
		}
		name := embeddedName(g)
		id, err := embeddedID(files, name)
		if err != nil {
			missing = append(missing, arch)
			continue
		}
		b.builds[arch] = build{id: id, open: func() (io.ReadCloser, error) {
			return gunzip(files, name)
		}}
	}
	if len(missing) > 0 {
		why = append(why, "it has no Linux helper embedded for "+strings.Join(missing, " or "))
		hosts := strings.Join(missing, " and ") + " hosts"
		if len(b.builds) == 0 {
			hosts = "Linux hosts"
		}
		b.lack = fmt.Sprintf("this skiff carries no probe helper for %s (%s; `make build` and the release archives embed them): they are probed with sh alone, which is slower",
			hosts, strings.Join(why, ", and "))
	}
	if len(b.builds) == 0 {
		return nil, b.lack
	}
	h := sha256.New()
	for _, arch := range slices.Sorted(maps.Keys(b.builds)) {
		fmt.Fprintf(h, "%s=%s\n", arch, b.builds[arch].id)
	}
	b.id = hex.EncodeToString(h.Sum(nil)[:8])
	return b, b.lack
}

// embeddedID names the embedded helper at name: the first 8 bytes of its
// sha256, in hex, which the build writes beside it (name + ".id") so that
// a run neither reads nor hashes the helpers it does not send; without
// that file, the helper is hashed.
func embeddedID(files fs.FS, name string) (string, error) {
	if id, err := fs.ReadFile(files, name+".id"); err == nil {
		if s := strings.TrimSpace(string(id)); len(s) == 16 {
			return s, nil
		}
	}
	f, err := files.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// gunzip opens the embedded helper at name, decompressing as it is read.
func gunzip(files fs.FS, name string) (io.ReadCloser, error) {
	f, err := files.Open(name)
	if err != nil {
		return nil, err
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return gzipFile{z, f}, nil
}

// gzipFile reads a gzip stream and closes the file under it.
type gzipFile struct {
	*gzip.Reader
	f fs.File
}

func (g gzipFile) Close() error {
	err := g.Reader.Close()
	if ferr := g.f.Close(); err == nil {
		err = ferr
	}
	return err
}

// buildID reads exe's Go build ID (which changes with every change to
// the binary) and refuses a dynamically linked executable. Without a build
// ID note, the file's own sha256 names it.
func buildID(exe string) (string, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", exe, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errors.New("is dynamically linked")
		}
	}
	h := sha256.New()
	if s := f.Section(".note.go.buildid"); s != nil {
		data, err := s.Data()
		// namesz, descsz, type, then "Go\x00\x00" and the ID.
		if err == nil && len(data) > 16 {
			n := binary.LittleEndian.Uint32(data[4:8])
			if int(16+n) <= len(data) {
				h.Write(data[16 : 16+n])
				return hex.EncodeToString(h.Sum(nil)[:8]), nil
			}
		}
	}
	r, err := os.Open(exe)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// RemotePath is where hosts keep the helper.
func (b *Binary) RemotePath() string { return Dir + "/skiff-" + b.id }

// Fits reports whether the helper has a build for hosts whose uname -m is
// arch (their fact "arch").
func (b *Binary) Fits(arch string) bool {
	if b == nil {
		return false
	}
	_, ok := b.builds[arch]
	return ok
}

// Lacking returns, for a host whose processor (arch) has no build, what
// Helpers' note says (for a processor skiff has no helper for at all, that
// it has none): the first time for each processor only, so that a run
// says it once.
func (b *Binary) Lacking(arch string) string {
	if b == nil || b.Fits(arch) {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.noted[arch] {
		return ""
	}
	if b.noted == nil {
		b.noted = map[string]bool{}
	}
	b.noted[arch] = true
	for _, a := range unameArch {
		if a == arch {
			return b.lack
		}
	}
	return fmt.Sprintf("skiff has no probe helper for %s hosts: they are probed with sh alone", arch)
}

// errNoBuild is Install's error for a processor without a build.
var errNoBuild = errors.New("no probe helper for this processor")

// Install copies the build for arch (the host's uname -m) to the host at
// RemotePath (as root), to a temporary name first and then renamed, so a
// host never runs a partial helper; older builds' copies are removed (a
// run still using one falls back to sh), and temporary copies an hour old
// (a concurrent install's are younger). It needs no deploy lock: it
// touches only skiff's folder.
func (b *Binary) Install(ctx context.Context, t transport.Transport, arch string) error {
	bld, ok := b.builds[arch]
	if !ok {
		return fmt.Errorf("%s: %w", arch, errNoBuild)
	}
	if res, err := t.Run(ctx, "umask 077\nmkdir -p -- "+shell.Quote(Dir)); err != nil || res.ExitCode != 0 {
		return fmt.Errorf("making %s: %v (exit %d)", Dir, err, res.ExitCode)
	}
	f, err := bld.open()
	if err != nil {
		return fmt.Errorf("reading the probe helper for %s: %w", arch, err)
	}
	defer f.Close()
	var r [6]byte
	_, _ = rand.Read(r[:])
	tmp := Dir + "/.skiff-" + b.id + "." + hex.EncodeToString(r[:]) + ".tmp"
	if err := t.WriteFile(ctx, tmp, f, 0o700); err != nil {
		_, _ = t.Run(context.WithoutCancel(ctx), "rm -f "+shell.Quote(tmp)) // best effort; the write error is the news
		return err
	}
	final := shell.Quote(b.RemotePath())
	res, err := t.Run(ctx, fmt.Sprintf("mv -f %s %s || { rm -f %s; exit 1; }\nfor f in %s/skiff-*; do [ \"$f\" = %s ] || rm -f \"$f\"; done\nfind %s -maxdepth 1 -name '.skiff-*.tmp' -mmin +60 -delete 2>/dev/null\nexit 0\n",
		shell.Quote(tmp), final, shell.Quote(tmp), shell.Quote(Dir), final, shell.Quote(Dir)))
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("installing the probe helper: exit %d: %s", res.ExitCode, res.Stderr)
	}
	return nil
}
