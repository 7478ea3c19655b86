package hostprobe

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// writeELF writes a minimal 64-bit Linux executable for x86_64 and returns
// its path: static, or dynamically linked (with an interpreter).
func writeELF(t *testing.T, dynamic bool) string {
	t.Helper()
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Ehsize: 64, Phentsize: 56, Shentsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	progs := []elf.Prog64{{Type: uint32(elf.PT_LOAD), Off: 0, Filesz: 64, Memsz: 64}}
	if dynamic {
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_INTERP), Off: 0, Filesz: 1, Memsz: 1})
	}
	h.Phoff, h.Phnum = 64, uint16(len(progs))
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, h)
	binary.Write(&buf, binary.LittleEndian, progs)
	p := filepath.Join(t.TempDir(), "skiff")
	if err := os.WriteFile(p, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// embeddedFiles are helpers embedded as a build embeds them, each holding
// content of its own: "linux/GOARCH helper".
func embeddedFiles(t *testing.T, goarchs ...string) fstest.MapFS {
	t.Helper()
	fs := fstest.MapFS{}
	for _, g := range goarchs {
		var buf bytes.Buffer
		z := gzip.NewWriter(&buf)
		z.Write([]byte("linux/" + g + " helper"))
		z.Close()
		fs[embeddedName(g)] = &fstest.MapFile{Data: buf.Bytes()}
	}
	return fs
}

// recorder is a host: it keeps what Install writes and runs.
type recorder struct {
	written map[string][]byte
	scripts []string
}

func (r *recorder) Run(_ context.Context, script string) (transport.Result, error) {
	r.scripts = append(r.scripts, script)
	return transport.Result{}, nil
}

func (r *recorder) WriteFile(_ context.Context, path string, content io.Reader, _ os.FileMode) error {
	b, err := io.ReadAll(content)
	if err != nil {
		return err
	}
	if r.written == nil {
		r.written = map[string][]byte{}
	}
	r.written[path] = b
	return nil
}

func (r *recorder) Stat(context.Context, string) (transport.FileInfo, error) {
	return transport.FileInfo{}, errors.New("not here")
}

func (r *recorder) Close() error { return nil }

// installed is what a host of processor arch (uname -m) receives.
func installed(t *testing.T, b *Binary, arch string) string {
	t.Helper()
	var host recorder
	if err := b.Install(context.Background(), &host, arch); err != nil {
		t.Fatalf("installing on %s: %v", arch, err)
	}
	if len(host.written) != 1 {
		t.Fatalf("%s: %d files written, want 1", arch, len(host.written))
	}
	for _, content := range host.written {
		if last := host.scripts[len(host.scripts)-1]; !strings.Contains(last, "'"+b.RemotePath()+"'") {
			t.Errorf("%s: the copy is not renamed to %s:\n%s", arch, b.RemotePath(), last)
		}
		return string(content)
	}
	return ""
}

// Each host gets a static Linux helper of its processor: the running skiff
// when it is one, else the build embedded in it; with none for a
// processor, its hosts are probed with sh and the run says why.
func TestHelperSelection(t *testing.T) {
	static, dynamic := writeELF(t, false), writeELF(t, true)
	selfBytes, _ := os.ReadFile(static)
	darwin := selfBuild{goarch: "arm64", err: errors.New("it is built for darwin/arm64")}
	cases := []struct {
		name     string
		self     selfBuild
		embedded []string
		want     map[string]string // uname -m: what its hosts get ("" none)
		note     []string          // what the note names ("" none)
	}{
		{"macOS with both embedded", darwin, []string{"amd64", "arm64"},
			map[string]string{"x86_64": "linux/amd64 helper", "aarch64": "linux/arm64 helper"}, nil},
		{"static linux/amd64 with arm64 embedded", selfBuild{goarch: "amd64", path: static}, []string{"arm64"},
			map[string]string{"x86_64": string(selfBytes), "aarch64": "linux/arm64 helper"}, nil},
		{"static linux/amd64 with both embedded prefers itself", selfBuild{goarch: "amd64", path: static}, []string{"amd64", "arm64"},
			map[string]string{"x86_64": string(selfBytes), "aarch64": "linux/arm64 helper"}, nil},
		{"dynamic linux/amd64 with both embedded", selfBuild{goarch: "amd64", path: dynamic}, []string{"amd64", "arm64"},
			map[string]string{"x86_64": "linux/amd64 helper", "aarch64": "linux/arm64 helper"}, nil},
		{"static linux/amd64 alone", selfBuild{goarch: "amd64", path: static}, nil,
			map[string]string{"x86_64": string(selfBytes), "aarch64": ""}, []string{"aarch64 hosts", "no Linux helper embedded for aarch64", "sh"}},
		{"linux/386 with amd64 embedded", selfBuild{goarch: "386", path: static}, []string{"amd64"},
			map[string]string{"x86_64": "linux/amd64 helper", "aarch64": ""}, []string{"aarch64 hosts", "linux/386"}},
		{"macOS alone", darwin, nil,
			map[string]string{"x86_64": "", "aarch64": ""}, []string{"Linux hosts", "built for darwin/arm64", "x86_64 or aarch64", "make build", "sh"}},
		{"dynamic linux/amd64 alone", selfBuild{goarch: "amd64", path: dynamic}, nil,
			map[string]string{"x86_64": "", "aarch64": ""}, []string{"Linux hosts", "dynamically linked", "sh"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, note := assemble(c.self, embeddedFiles(t, c.embedded...))
			for arch, want := range c.want {
				if b.Fits(arch) != (want != "") {
					t.Errorf("Fits(%s) = %v, want %v", arch, b.Fits(arch), want != "")
				}
				if want != "" {
					if got := installed(t, b, arch); got != want {
						t.Errorf("an %s host got %.40q, want %.40q", arch, got, want)
					}
				}
			}
			if (note != "") != (c.note != nil) {
				t.Fatalf("note %q", note)
			}
			for _, w := range c.note {
				if !strings.Contains(note, w) {
					t.Errorf("note %q does not say %q", note, w)
				}
			}
			if b == nil {
				return
			}
			// The run says it once, for the first host without a build.
			for arch, want := range c.want {
				if want != "" && b.Lacking(arch) != "" {
					t.Errorf("Lacking(%s) names a processor that has a build", arch)
				}
			}
			if c.note != nil {
				if b.Lacking("aarch64") != note || b.Lacking("aarch64") != "" {
					t.Error("Lacking does not say the note exactly once")
				}
			}
			if first, again := b.Lacking("riscv64"), b.Lacking("riscv64"); !strings.Contains(first, "riscv64 hosts") || again != "" {
				t.Errorf("for a processor without any helper, Lacking says %q, then %q", first, again)
			}
		})
	}
}

// A helper without a build for a host's processor installs nothing there.
func TestInstallRefusesAnotherProcessor(t *testing.T) {
	b, _ := assemble(selfBuild{goarch: "amd64", path: writeELF(t, false)}, embeddedFiles(t))
	var host recorder
	if err := b.Install(context.Background(), &host, "aarch64"); err == nil || len(host.written)+len(host.scripts) > 0 {
		t.Errorf("installing on aarch64: %v, wrote %d files, ran %d scripts", err, len(host.written), len(host.scripts))
	}
}

// Hosts keep the helper under a name that changes with any of its builds,
// so a run never takes another build's copy for its own.
func TestRemotePathNamesTheBuilds(t *testing.T) {
	static := writeELF(t, false)
	name := func(files fstest.MapFS) string {
		b, _ := assemble(selfBuild{goarch: "amd64", path: static}, files)
		return b.RemotePath()
	}
	base := name(embeddedFiles(t, "arm64"))
	if again := name(embeddedFiles(t, "arm64")); again != base {
		t.Errorf("the same builds are named %s and %s", base, again)
	}
	other := embeddedFiles(t, "arm64")
	other[embeddedName("arm64")].Data = append([]byte(nil), other[embeddedName("arm64")].Data...)
	other[embeddedName("arm64")].Data[len(other[embeddedName("arm64")].Data)-5] ^= 1
	if name(other) == base {
		t.Error("another arm64 build keeps the name")
	}
	if name(embeddedFiles(t)) == base {
		t.Error("the helper without its arm64 build keeps the name")
	}
	if !strings.HasPrefix(base, Dir+"/skiff-") {
		t.Errorf("helper at %s, outside %s", base, Dir)
	}
}

// The name a build writes beside an embedded helper (.gz.id, its sha256
// prefix) is the one a run uses: the run neither reads nor hashes a
// helper it does not send, and the name is the one hashing would give.
func TestEmbeddedHelperNamedByItsIDFile(t *testing.T) {
	static := writeELF(t, false)
	files := embeddedFiles(t, "arm64")
	hashed, _ := assemble(selfBuild{goarch: "amd64", path: static}, files)
	sum := sha256.Sum256(files[embeddedName("arm64")].Data)
	files[embeddedName("arm64")+".id"] = &fstest.MapFile{Data: []byte(hex.EncodeToString(sum[:8]) + "\n")}
	named, _ := assemble(selfBuild{goarch: "amd64", path: static}, files)
	if named.RemotePath() != hashed.RemotePath() {
		t.Errorf("named by its .id file: %s; hashed: %s", named.RemotePath(), hashed.RemotePath())
	}
	// A helper whose content is never read keeps the name its .id gives.
	files[embeddedName("arm64")].Data = []byte("not read")
	if again, _ := assemble(selfBuild{goarch: "amd64", path: static}, files); again.RemotePath() != hashed.RemotePath() {
		t.Errorf("the helper was read to name it: %s", again.RemotePath())
	}
	// And it is decompressed as it is sent.
	files = embeddedFiles(t, "arm64")
	b, _ := assemble(selfBuild{goarch: "amd64", path: static}, files)
	r, err := b.builds["aarch64"].open()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if err := r.Close(); err != nil || string(got) != "linux/arm64 helper" {
		t.Errorf("opened helper: %q, close %v", got, err)
	}
}
