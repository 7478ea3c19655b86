package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/module/aptrepo"
)

// pgpKey is an Ed25519 OpenPGP key (RFC 4880 packets, EdDSA as GnuPG
// writes it), enough to sign an apt repository for a test without gpg on
// the machine that runs the tests.
type pgpKey struct {
	priv    ed25519.PrivateKey
	body    []byte // the public key packet's body
	fp      []byte // v4 fingerprint
	created uint32
}

func newPGPKey(t *testing.T) *pgpKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &pgpKey{priv: priv, created: uint32(time.Now().Add(-time.Hour).Unix())}
	b := []byte{4}
	b = binary.BigEndian.AppendUint32(b, k.created)
	b = append(b, 22, 9, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01) // EdDSA, OID of Ed25519
	b = append(b, mpi(append([]byte{0x40}, pub...))...)
	k.body = b
	h := sha1.New()
	h.Write(k.prefixed())
	k.fp = h.Sum(nil)
	return k
}

// prefixed is the key packet as it is hashed: 0x99, length, body.
func (k *pgpKey) prefixed() []byte {
	return append([]byte{0x99, byte(len(k.body) >> 8), byte(len(k.body))}, k.body...)
}

// mpi encodes b as an OpenPGP multiprecision integer.
func mpi(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	n := 0
	if len(b) > 0 {
		n = (len(b)-1)*8 + bits.Len8(b[0])
	}
	return append([]byte{byte(n >> 8), byte(n)}, b...)
}

func packet(tag byte, body []byte) []byte {
	h := []byte{0xC0 | tag}
	switch n := len(body); {
	case n < 192:
		h = append(h, byte(n))
	case n < 8384:
		n -= 192
		h = append(h, byte(n>>8)+192, byte(n))
	default:
		h = append(h, 255)
		h = binary.BigEndian.AppendUint32(h, uint32(n))
	}
	return append(h, body...)
}

// sign returns a v4 signature packet of sigType over hashed (what comes
// before the signature's own fields in the hash), with SHA-256.
func (k *pgpKey) sign(sigType byte, hashed []byte) []byte {
	sub := []byte{5, 2}
	sub = binary.BigEndian.AppendUint32(sub, k.created+60) // creation time
	sub = append(append(sub, 22, 33, 4), k.fp...)          // issuer fingerprint
	if sigType == 0x13 {
		sub = append(sub, 2, 27, 0x03) // key flags: certify, sign
	}
	head := append([]byte{4, sigType, 22, 8, byte(len(sub) >> 8), byte(len(sub))}, sub...)
	trailer := binary.BigEndian.AppendUint32([]byte{4, 0xFF}, uint32(len(head)))
	h := sha256.New()
	h.Write(hashed)
	h.Write(head)
	h.Write(trailer)
	digest := h.Sum(nil)
	sig := ed25519.Sign(k.priv, digest)
	unhashed := append([]byte{9, 16}, k.fp[12:]...) // issuer key id
	body := append(head, byte(len(unhashed)>>8), byte(len(unhashed)))
	body = append(body, unhashed...)
	body = append(body, digest[0], digest[1])
	body = append(body, mpi(sig[:32])...)
	body = append(body, mpi(sig[32:])...)
	return packet(2, body)
}

// public is the transferable public key: key, user id, self-signature.
func (k *pgpKey) public(uid string) []byte {
	hashed := append(k.prefixed(), 0xB4)
	hashed = binary.BigEndian.AppendUint32(hashed, uint32(len(uid)))
	hashed = append(hashed, uid...)
	out := packet(6, k.body)
	out = append(out, packet(13, []byte(uid))...)
	return append(out, k.sign(0x13, hashed)...)
}

// detached is an armored detached signature of data, as apt wants
// Release.gpg.
func (k *pgpKey) detached(data []byte) []byte {
	return []byte(strings.ReplaceAll(string(aptrepo.Armor(k.sign(0x00, data))), "PUBLIC KEY BLOCK", "SIGNATURE"))
}

// flatRepo returns the files of a flat apt repository ("./" suite)
// holding one package's index entry, signed by k.
func flatRepo(k *pgpKey, pkg, version string) map[string][]byte {
	packages := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: skiff tests <tests@example.org>\nFilename: %s_%s_all.deb\nSize: 1\nSHA256: %s\nDescription: a package only the test repository has\n\n",
		pkg, version, pkg, version, strings.Repeat("0", 64))
	sum := sha256.Sum256([]byte(packages))
	release := fmt.Sprintf("Origin: skiff-tests\nLabel: skiff-tests\nDate: %s\nSHA256:\n %s %d Packages\n",
		time.Now().Add(-time.Hour).UTC().Format(time.RFC1123), hex.EncodeToString(sum[:]), len(packages))
	return map[string][]byte{"Packages": []byte(packages), "Release": []byte(release), "Release.gpg": k.detached([]byte(release))}
}

func armoredKey(k *pgpKey) []byte { return aptrepo.Armor(k.public("skiff tests <tests@example.org>")) }

// tgz is a tar.gz of files (names ending in "/" are folders).
func tgz(t *testing.T, files map[string]string, order ...string) []byte {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, name := range order {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	return gz.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// getRole fetches a release with download, extracts it with unarchive
// (from the host) and a config archive uploaded from the role, adds an
// apt repository, all served by a web server on the host's loopback, and
// clones a repository on the host with git. A last task fails on demand,
// to prove the rollback.
const getRole = `
variable "version" { default = "1.0" }
variable "arch" { default = "amd64" }
variable "ref" { default = "v1" }
variable "fail" { default = "no" }

task "directory" "dist" {
  path = "/opt/dist"
}
task "download" "app" {
  url    = "http://127.0.0.1:8088/app-${var.version}.tar.gz"
  path   = "/opt/dist/app.tar.gz"
  sha256 = var.version == "1.0" ? "SUM1" : "SUM2"
  mode   = "0640"
}
task "unarchive" "app" {
  remote_source    = "/opt/dist/app.tar.gz"
  path             = "/opt/app/current"
  strip_components = 1
}
task "unarchive" "conf" {
  source = "conf.tar.gz"
  path   = "/etc/app-conf"
  owner  = "deploy"
}
task "apt_repository" "tests" {
  name          = "skiff-tests"
  uris          = ["http://127.0.0.1:8088/repo"]
  suites        = ["./"]
  architectures = [var.arch]
  key           = "skiff-tests.asc"
}
task "git" "src" {
  repo    = "/srv/git/app.git"
  path    = "/opt/src/app"
  version = var.ref
  depth   = 1
}
task "command" "fail" {
  when    = var.fail == "yes"
  command = "echo failing on purpose; exit 3"
}
`

// TestGetKindsOnRealHosts: download, unarchive, apt_repository and git
// converge on a real host, plan clean on the second run (a downloaded
// file is never fetched again, not even to fix its mode), and a failure
// later in the play brings back the replaced file, the replaced folder,
// the repository's sources and the clone's commit.
func TestGetKindsOnRealHosts(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": {"web"}}, ""); err != nil {
		t.Fatal(err)
	}

	v1 := tgz(t, map[string]string{"app-1.0/": "", "app-1.0/bin/": "", "app-1.0/bin/app": "app 1.0\n", "app-1.0/README": "one\n"}, "app-1.0/", "app-1.0/bin/", "app-1.0/bin/app", "app-1.0/README")
	v2 := tgz(t, map[string]string{"app-2.0/": "", "app-2.0/bin/": "", "app-2.0/bin/app": "app 2.0\n"}, "app-2.0/", "app-2.0/bin/", "app-2.0/bin/app")
	conf := tgz(t, map[string]string{"app.conf": "port = 8080\n"}, "app.conf")
	key := newPGPKey(t)
	repo := flatRepo(key, "skiff-hello", "1.0")

	role := strings.NewReplacer("SUM1", sha(v1), "SUM2", sha(v2)).Replace(getRole)
	os.MkdirAll(filepath.Join(dir, "roles", "get", "files"), 0o755)
	os.WriteFile(filepath.Join(dir, "roles", "get", "role.hcl"), []byte(role), 0o644)
	os.WriteFile(filepath.Join(dir, "roles", "get", "files", "conf.tar.gz"), conf, 0o644)
	os.WriteFile(filepath.Join(dir, "roles", "get", "files", "skiff-tests.asc"), armoredKey(key), 0o644)
	pb := filepath.Join(dir, "get.hcl")
	os.WriteFile(pb, []byte(`play "get" { hosts = "all"  roles = ["get"] }`+"\n"), 0o644)

	www := map[string][]byte{"app-1.0.tar.gz": v1, "app-2.0.tar.gz": v2}
	for n, b := range repo {
		www["repo/"+n] = b
	}
	g := setUpGetHost(t, c, "h1", inv, dir, www)
	commits := g.commits
	fetches := func(name string) int { return g.fetches(t, name) }

	const state = "sha256sum /opt/dist/app.tar.gz 2>&1; stat -c '%a %U' /opt/dist/app.tar.gz 2>&1; find /opt/app /etc/app-conf -printf '%p %u %m\n' 2>&1 | sort; cat /opt/app/current/bin/app 2>&1; " +
		"ls /var/lib/skiff/unarchive 2>&1; cat /etc/apt/sources.list.d/skiff-tests.sources /etc/apt/keyrings/skiff-tests.asc 2>&1 | sha256sum; " +
		"git -C /opt/src/app rev-parse HEAD 2>&1; cat /opt/src/app/VERSION 2>&1"
	pristine, _ := hostExec(t, c, "h1", state)

	plan := func(t *testing.T, extra ...string) run {
		t.Helper()
		return skiff(t, append([]string{"plan", "-i", inv, pb, "--output", "json"}, extra...)...)
	}
	apply := func(t *testing.T, extra ...string) run {
		t.Helper()
		return skiff(t, append([]string{"apply", "-i", inv, pb, "--yes", "--output", "json"}, extra...)...)
	}
	changes := func(r run) map[string]string { // task -> summary
		out := map[string]string{}
		for _, h := range r.json.Hosts {
			for _, ch := range h.Changes {
				out[ch.Task] = ch.Summary
			}
		}
		return out
	}

	t.Run("plan reads only and says what each task would do", func(t *testing.T) {
		r := plan(t)
		if r.code != 0 {
			t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
		}
		got := changes(r)
		for task, want := range map[string]string{
			"download.app":         "download http://127.0.0.1:8088/app-1.0.tar.gz to /opt/dist/app.tar.gz (sha256 " + sha(v1)[:12] + ") (parent directory /opt/dist does not exist yet)",
			"unarchive.app":        "extract /opt/dist/app.tar.gz into /opt/app/current (the archive is not on the host yet) (parent directory /opt/app does not exist yet: made)",
			"unarchive.conf":       "extract " + filepath.Join(dir, "roles", "get", "files", "conf.tar.gz") + " into /etc/app-conf (sha256 " + sha(conf)[:12] + ")",
			"apt_repository.tests": "create /etc/apt/keyrings/skiff-tests.asc; create /etc/apt/sources.list.d/skiff-tests.sources; refresh the package lists of skiff-tests",
			"git.src":              "clone /srv/git/app.git at v1 (" + commits[0][:12] + ") into /opt/src/app",
		} {
			if got[task] != want {
				t.Errorf("%s: %q\nwant %q", task, got[task], want)
			}
		}
		if now, _ := hostExec(t, c, "h1", state); now != pristine {
			t.Fatalf("plan changed the host:\n%s\nwas:\n%s", now, pristine)
		}
		if n := fetches("app-1.0.tar.gz"); n != 0 {
			t.Errorf("plan fetched the file %d times", n)
		}
	})

	t.Run("apply converges, the second plan is clean", func(t *testing.T) {
		if r := apply(t); r.code != 0 || r.json.Summary.Changed != 1 {
			t.Fatalf("apply: exit %d, changed %d\n%s", r.code, r.json.Summary.Changed, r.stderr)
		}
		out, _ := hostExec(t, c, "h1", "sha256sum /opt/dist/app.tar.gz; stat -c '%a %U' /opt/dist/app.tar.gz; cat /opt/app/current/bin/app /opt/app/current/README; "+
			"stat -c '%U %a' /etc/app-conf/app.conf; cat /etc/app-conf/app.conf; cat /etc/apt/sources.list.d/skiff-tests.sources; apt-cache policy skiff-hello; "+
			"git -C /opt/src/app rev-parse HEAD; cat /opt/src/app/VERSION; stat -c '%u %a' /opt/src/app /opt/src/app/.git 2>&1")
		for _, want := range []string{sha(v1) + "  /opt/dist/app.tar.gz\n640 root\n", "app 1.0\none\n", "deploy 644\nport = 8080\n",
			"Suites: ./\nArchitectures: amd64\nSigned-By: /etc/apt/keyrings/skiff-tests.asc\n", "Candidate: 1.0", "http://127.0.0.1:8088/repo ./ Packages",
			commits[0] + "\n1\n0 755\n0 755\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("host state lacks %q:\n%s", want, out)
			}
		}
		if r := plan(t); r.code != 0 || len(changes(r)) != 0 {
			t.Fatalf("second plan: exit %d, changes %v", r.code, changes(r))
		}
		if r := apply(t); r.code != 0 || r.json.Summary.Changed != 0 {
			t.Fatalf("second apply: exit %d, changed %d", r.code, r.json.Summary.Changed)
		}
		if n := fetches("app-1.0.tar.gz"); n != 1 {
			t.Errorf("the file was fetched %d times, want once", n)
		}
	})

	t.Run("a mode fix does not fetch again", func(t *testing.T) {
		hostExec(t, c, "h1", "chmod 600 /opt/dist/app.tar.gz")
		if got := changes(plan(t)); len(got) != 1 || got["download.app"] != "update /opt/dist/app.tar.gz: mode 0600 -> 0640" {
			t.Fatalf("changes = %v", got)
		}
		if r := apply(t); r.code != 0 {
			t.Fatalf("apply: exit %d", r.code)
		}
		if r := plan(t); len(changes(r)) != 0 {
			t.Fatalf("plan after the fix: %v", changes(r))
		}
		if n := fetches("app-1.0.tar.gz"); n != 1 {
			t.Errorf("the file was fetched %d times, want once", n)
		}
	})

	t.Run("a failing later task rolls the file, the folder, the repository and the clone back", func(t *testing.T) {
		converged, _ := hostExec(t, c, "h1", state)
		if got := changes(plan(t, "-e", "ref=main")); got["git.src"] != "move /opt/src/app from "+commits[0][:12]+" to "+commits[1][:12]+" at main ("+commits[1][:12]+")" {
			t.Errorf("git plan: %q", got["git.src"])
		}
		r := apply(t, "-e", "version=2.0", "-e", "arch=all", "-e", "ref=main", "-e", "fail=yes")
		if st, _, msg := r.json.host("h1"); r.code == 0 || st != "failed" || !strings.Contains(msg, "command.fail") || !strings.Contains(msg, "rolled back 4 of 5 change(s)") {
			t.Fatalf("apply: exit %d, h1 %s %q", r.code, st, msg)
		}
		if n := fetches("app-2.0.tar.gz"); n != 1 {
			t.Errorf("version 2.0 fetched %d times, want once (the run got as far as the failure)", n)
		}
		if now, _ := hostExec(t, c, "h1", state); now != converged {
			t.Fatalf("after the rollback:\n%s\nwant as before the run:\n%s", now, converged)
		}
		if r := plan(t); len(changes(r)) != 0 {
			t.Fatalf("plan after the rollback: %v", changes(r))
		}
	})

	t.Run("a new version converges", func(t *testing.T) {
		if r := apply(t, "-e", "version=2.0"); r.code != 0 {
			t.Fatalf("apply: exit %d", r.code)
		}
		if out, _ := hostExec(t, c, "h1", "find /opt/app/current -type f | sort; cat /opt/app/current/bin/app"); out != "/opt/app/current/bin/app\napp 2.0\n" {
			t.Errorf("folder = %q, want version 2.0 alone", out)
		}
		if r := plan(t, "-e", "version=2.0"); len(changes(r)) != 0 {
			t.Fatalf("second plan: %v", changes(r))
		}
	})

	t.Run("a rollback of the whole run restores the earlier version", func(t *testing.T) {
		r := skiff(t, "rollback", "-i", inv, "--yes")
		if r.code != 0 {
			t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
		}
		if out, _ := hostExec(t, c, "h1", "cat /opt/app/current/bin/app /opt/app/current/README; sha256sum < /opt/dist/app.tar.gz"); out != "app 1.0\none\n"+sha(v1)+"  -\n" {
			t.Errorf("after rollback: %q", out)
		}
	})
}
