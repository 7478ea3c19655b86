package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// toolsRole gives the host git, which the test image lacks: this
// machine's own git binary (the test image is the same Debian release),
// uploaded by unarchive, and linked in /usr/local/bin under the names git
// runs it by.
const toolsRole = `
task "unarchive" "git" {
  source = "git.tar.gz"
  path   = "/opt/gitbin"
}
task "symlink" "git" {
  path   = "/usr/local/bin/git"
  target = "/opt/gitbin/git"
}
task "symlink" "upload_pack" {
  path   = "/usr/local/bin/git-upload-pack"
  target = "/opt/gitbin/git"
}
task "symlink" "receive_pack" {
  path   = "/usr/local/bin/git-receive-pack"
  target = "/opt/gitbin/git"
}
`

// getHost is a test host ready for the kinds that fetch: it has git and a
// repository /srv/git/app.git with two commits on main, the first tagged
// v1; and a web server on its loopback (the host has no other network),
// http://127.0.0.1:8088/, serving /srv/www with its requests logged.
type getHost struct {
	c    *testhosts.Cluster
	name string
	// commits are the repository's: v1, then main's head.
	commits []string
}

// setUpGetHost readies host (the only host of inventory inv) as getHost
// says, serving www (paths under /srv/www) from the web server. It keeps
// the tools role and playbook it applies under dir.
func setUpGetHost(t *testing.T, c *testhosts.Cluster, host, inv, dir string, www map[string][]byte) *getHost {
	t.Helper()
	g := &getHost{c: c, name: host}
	gitBin, err := os.ReadFile("/usr/bin/git")
	if err != nil {
		t.Fatalf("the test gives the host this machine's git: %v", err)
	}
	var gitTar bytes.Buffer
	tw := tar.NewWriter(&gitTar)
	tw.WriteHeader(&tar.Header{Name: "git", Mode: 0o755, Size: int64(len(gitBin)), Typeflag: tar.TypeReg})
	tw.Write(gitBin)
	tw.Close()
	var gitTgz bytes.Buffer
	zw := gzip.NewWriter(&gitTgz)
	zw.Write(gitTar.Bytes())
	zw.Close()
	tools := filepath.Join(dir, "tools-setup")
	os.MkdirAll(filepath.Join(tools, "roles", "tools", "files"), 0o755)
	os.WriteFile(filepath.Join(tools, "roles", "tools", "role.hcl"), []byte(toolsRole), 0o644)
	os.WriteFile(filepath.Join(tools, "roles", "tools", "files", "git.tar.gz"), gitTgz.Bytes(), 0o644)
	pb := filepath.Join(tools, "tools.hcl")
	os.WriteFile(pb, []byte(`play "tools" { hosts = "all"  roles = ["tools"] }`+"\n"), 0o644)
	if r := skiff(t, "apply", "-i", inv, pb, "--yes"); r.code != 0 {
		t.Fatalf("giving the host git: exit %d\n%s", r.code, r.stderr)
	}
	out, code := hostExec(t, c, host, "set -e; export HOME=/root GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org; "+
		"git init -q --bare --initial-branch=main /srv/git/app.git; git init -q --initial-branch=main /tmp/w; cd /tmp/w; "+
		"echo 1 > VERSION; git add VERSION; git commit -q -m one; git tag -a v1 -m 'release 1'; echo 2 > VERSION; git commit -q -am two; "+
		"git push -q /srv/git/app.git main v1; git rev-parse HEAD~1 HEAD; rm -rf /tmp/w")
	if code != 0 {
		t.Fatalf("making the repository: %s", out)
	}
	g.commits = strings.Fields(out)

	for p, b := range www {
		g.put(t, "/srv/www/"+p, b)
	}
	if out, code := hostExec(t, c, host, "mkdir -p /srv/www && systemd-run --unit=www --property=WorkingDirectory=/srv/www sh -c 'exec python3 -m http.server 8088 --bind 127.0.0.1 2>>/var/log/www.log' && "+
		"for i in $(seq 50); do curl -fs -o /dev/null http://127.0.0.1:8088/ && exit 0; sleep 0.2; done; exit 1"); code != 0 {
		t.Fatalf("web server: %s", out)
	}
	return g
}

// put writes b to path on the host.
func (g *getHost) put(t *testing.T, path string, b []byte) {
	t.Helper()
	if out, code := hostExec(t, g.c, g.name, fmt.Sprintf("mkdir -p $(dirname %s) && echo %s | base64 -d > %s", path, base64.StdEncoding.EncodeToString(b), path)); code != 0 {
		t.Fatalf("put %s: %s", path, out)
	}
}

// fetches is how many times the web server was asked for name (a path
// under /srv/www).
func (g *getHost) fetches(t *testing.T, name string) int {
	t.Helper()
	out, _ := hostExec(t, g.c, g.name, "grep -c 'GET /"+name+" ' /var/log/www.log")
	n := 0
	fmt.Sscan(out, &n)
	return n
}
