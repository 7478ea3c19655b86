package hostprobe

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Dir is where a host keeps the helper: root-only, beside the deploy lock.
const Dir = "/var/lib/skiff/helper"

// Binary is a skiff executable that can serve as the helper on hosts of
// its system and processor.
type Binary struct {
	path string // on this machine
	id   string // names the copy on hosts: one per build
	arch string // what uname -m prints on hosts that run it
}

// unameArch maps Go's processor names to uname -m's.
var unameArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}

// Self is the running skiff as the helper, or an error saying why it
// cannot be one: not built for Linux, a processor without a mapping, or a
// dynamically linked build (hosts may lack its libraries).
func Self() (*Binary, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("skiff is built for %s, hosts run Linux", runtime.GOOS)
	}
	arch, ok := unameArch[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("no helper for processor %s", runtime.GOARCH)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	id, err := buildID(exe)
	if err != nil {
		return nil, err
	}
	return &Binary{path: exe, id: id, arch: arch}, nil
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
			return "", fmt.Errorf("%s is dynamically linked", exe)
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

// RemotePath is where hosts keep this build.
func (b *Binary) RemotePath() string { return Dir + "/skiff-" + b.id }

// Fits reports whether the binary runs on a host whose uname -m is arch
// (its fact "arch").
func (b *Binary) Fits(arch string) bool { return b != nil && arch == b.arch }

// Install copies the binary to the host at RemotePath (as root), to a
// temporary name first and then renamed, so a host never runs a partial
// helper; older builds' copies are removed (a run still using one falls
// back to sh), and temporary copies an hour old (a concurrent install's
// are younger). It needs no deploy lock: it touches only skiff's folder.
func (b *Binary) Install(ctx context.Context, t transport.Transport) error {
	if res, err := t.Run(ctx, "umask 077\nmkdir -p -- "+shell.Quote(Dir)); err != nil || res.ExitCode != 0 {
		return fmt.Errorf("making %s: %v (exit %d)", Dir, err, res.ExitCode)
	}
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r [6]byte
	_, _ = rand.Read(r[:])
	tmp := Dir + "/.skiff-" + b.id + "." + hex.EncodeToString(r[:]) + ".tmp"
	if err := t.WriteFile(ctx, tmp, f, 0o700); err != nil {
		t.Run(context.WithoutCancel(ctx), "rm -f "+shell.Quote(tmp))
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
