package mysql

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/transport"
)

const mariaVersion = "10.11.19-MariaDB-0+deb12u1"

// recorder is a fake transport: it records the scripts it is given and
// answers each with the next canned result (exit 0 when none is left). It
// runs nothing.
type recorder struct {
	scripts []string
	results []transport.Result
}

var _ transport.Transport = (*recorder)(nil)

func (r *recorder) Run(_ context.Context, script string) (transport.Result, error) {
	r.scripts = append(r.scripts, script)
	if len(r.results) == 0 {
		return transport.Result{}, nil
	}
	res := r.results[0]
	r.results = r.results[1:]
	return res, nil
}

func (r *recorder) WriteFile(context.Context, string, io.Reader, os.FileMode) error { return nil }
func (r *recorder) Stat(context.Context, string) (transport.FileInfo, error) {
	return transport.FileInfo{}, os.ErrNotExist
}
func (r *recorder) Close() error { return nil }

// probed builds probe output: the prelude's lines for a running server of
// version, then body.
func probed(version, body string) module.Probed {
	return module.Probed{Stdout: []byte("server=up\nversion=" + version + "\n" + body)}
}

var (
	downProbe    = module.Probed{Stdout: []byte("server=down\nerror=ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)\n")}
	missingProbe = module.Probed{Stdout: []byte("server=missing\n")}
	deniedProbe  = module.Probed{Stdout: []byte("server=down\nerror=ERROR 1698 (28000): Access denied for user 'root'@'localhost'\n")}
)

var heredocOp = regexp.MustCompile(`<<-?\s*'?([A-Za-z_][A-Za-z0-9_]*)'?`)

// splitScript separates a script's command lines from its heredoc bodies.
func splitScript(t *testing.T, script string) (commands, bodies []string) {
	t.Helper()
	eof := ""
	for _, line := range strings.Split(script, "\n") {
		if eof != "" {
			if line == eof {
				eof = ""
			} else {
				bodies = append(bodies, line)
			}
			continue
		}
		commands = append(commands, line)
		if m := heredocOp.FindStringSubmatch(line); m != nil {
			eof = m[1]
		}
	}
	if eof != "" {
		t.Fatalf("heredoc %s not closed in:\n%s", eof, script)
	}
	return commands, bodies
}

var passwordFlag = regexp.MustCompile(`(^|\s)(-p\S|--password)`)

// assertSecretOnlyInHeredocs fails unless every occurrence of each secret
// in the scripts is inside a heredoc body (SQL on the client's stdin, or
// the option file), no command line passes a password flag, and the
// secrets do appear (the test is not vacuous).
func assertSecretOnlyInHeredocs(t *testing.T, scripts []string, secrets ...string) {
	t.Helper()
	found := false
	for _, s := range scripts {
		commands, bodies := splitScript(t, s)
		for _, c := range commands {
			for _, sec := range secrets {
				if strings.Contains(c, sec) {
					t.Errorf("secret on a command line: %s", c)
				}
			}
			if passwordFlag.MatchString(c) {
				t.Errorf("password flag on a command line: %s", c)
			}
		}
		for _, b := range bodies {
			for _, sec := range secrets {
				found = found || strings.Contains(b, sec)
			}
		}
	}
	if !found {
		t.Errorf("the secret is in no script: the test checks nothing")
	}
}

func TestNativePasswordHash(t *testing.T) {
	// From the definition: "*" + upper hex of SHA1(SHA1(password)).
	def := func(pw string) string {
		a := sha1.Sum([]byte(pw))
		b := sha1.Sum(a[:])
		return "*" + strings.ToUpper(hex.EncodeToString(b[:]))
	}
	for _, pw := range []string{"", "secret", "pa'ss\\word", "ünïcode pässwörd"} {
		if got := NativePasswordHash(pw); got != def(pw) {
			t.Errorf("hash(%q) = %s, want %s", pw, got, def(pw))
		}
	}
	// Values MariaDB 10.11's PASSWORD() returned.
	for pw, want := range map[string]string{
		"replpw":       "*3FEBEA1F0E8D83C7578AACB7997039DA49CD121E",
		`pa'ss\word`:   "*E75BBD0E499D3DF4AB7980E22FAE8966033A2838",
		`r"e#p'l \ pw`: "*D42739481192BADC540FB13765526904D24C02B3",
	} {
		if got := NativePasswordHash(pw); got != want {
			t.Errorf("hash(%q) = %s, want %s", pw, got, want)
		}
	}
	if !hashMatches(" *3febea1f0e8d83c7578aacb7997039da49cd121e\n", "replpw") || hashMatches("*3FEBEA1F0E8D83C7578AACB7997039DA49CD121E", "other") || hashMatches("", "") {
		t.Errorf("hashMatches")
	}
}

func TestQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"plain":       "'plain'",
		"it's":        `'it\'s'`,
		`back\slash`:  `'back\\slash'`,
		"two\nlines":  `'two\nlines'`,
		"nul\x00\x1a": `'nul\0\Z'`,
	} {
		if got := sqlString(in); got != want {
			t.Errorf("sqlString(%q) = %s, want %s", in, got, want)
		}
	}
	if got := ident("we`ird"); got != "`we``ird`" {
		t.Errorf("ident = %s", got)
	}
	if got := cnfEscaper.Replace("a\"b\\c\nd"); got != `a\"b\\c\nd` {
		t.Errorf("cnf = %s", got)
	}
	// A value holding the heredoc delimiter on a line of its own stays on one line.
	s := runSQL("SELECT "+sqlString("x\n"+sqlEOF+"\ny")+";", "")
	if strings.Count(s, "\n"+sqlEOF+"\n") != 1 {
		t.Errorf("delimiter inside the body:\n%s", s)
	}
}

// shParses fails the test unless script parses with sh -n.
func shParses(t *testing.T, script string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v: %s\n%s", err, out, script)
	}
}

func TestServerState(t *testing.T) {
	s, _, err := parseServer(downProbe.Stdout, 0)
	if err != nil || !s.notRunning() || s.why() != "server not running yet" {
		t.Errorf("down: %+v %v", s, err)
	}
	s, _, _ = parseServer(missingProbe.Stdout, 0)
	if !s.notRunning() || !strings.Contains(s.why(), "not installed") {
		t.Errorf("missing: %+v", s)
	}
	s, _, _ = parseServer(deniedProbe.Stdout, 0)
	if s.notRunning() || !strings.Contains(s.unreachable().Error(), "ERROR 1698") {
		t.Errorf("denied: %+v", s)
	}
	if _, _, err := parseServer([]byte("garbage"), 2); err == nil {
		t.Errorf("garbage accepted")
	}
	s, _, _ = parseServer(probed(mariaVersion, "").Stdout, 0)
	if !s.mariadb() || !s.atLeast(10, 5) || s.atLeast(10, 12) || !s.atLeast(9, 0) {
		t.Errorf("version: %+v", s)
	}
	my := server{state: "up", version: "8.0.36-0ubuntu0.22.04.1"}
	if my.mariadb() || !my.atLeast(8, 0) {
		t.Errorf("mysql: %+v", my)
	}
}

// fakeServer is a mysql client for the replication probe: it logs its
// calls and answers as a server whose VERSION() is $FAKE_VERSION (none:
// cannot connect), knowing the statements of that server's flavor only.
const fakeServer = `#!/bin/sh
sql=$(cat)
echo call >> "$FAKE_MYSQL/calls"
[ -n "$FAKE_VERSION" ] || { echo "ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)" >&2; exit 1; }
printf '[server]\nversion=%s\n[status]\n\n' "$FAKE_VERSION"
case "$sql:$FAKE_VERSION" in
*"SHOW SLAVE STATUS"*:*MariaDB*) echo '*** 1. row ***'; echo '   Master_Host: 10.0.0.1' ;;
*"SHOW REPLICA STATUS"*:*MariaDB*) echo "ERROR 1064 (42000) at line 4: You have an error in your SQL syntax" >&2; exit 1 ;;
*"SHOW REPLICA STATUS"*) echo '*** 1. row ***'; echo '   Source_Host: 10.0.0.1' ;;
*) echo "ERROR 1064 (42000) at line 4: SHOW SLAVE STATUS is gone" >&2; exit 1 ;;
esac
printf '[vars]\nread_only=1\n[vars]\ngtid_pos=\n[end]\n\n'
`

// The replication probe is one client call when the installed client
// tells the server's flavor, two when it guessed wrong; it says missing
// and down as every probe does.
func TestReplicationProbeRuns(t *testing.T) {
	maria := "server=up\nversion=10.11.6-MariaDB\n[server]\nversion=10.11.6-MariaDB\n[status]\n\n*** 1. row ***\n   Master_Host: 10.0.0.1\n[vars]\nread_only=1\n[vars]\ngtid_pos=\n[end]\n"
	mysql := "server=up\nversion=8.0.36\n[server]\nversion=8.0.36\n[status]\n\n*** 1. row ***\n   Source_Host: 10.0.0.1\n[vars]\nread_only=1\n[vars]\ngtid_pos=\n[end]\n"
	down := "server=down\nerror=ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)\n"
	r := replication(t, nil)
	tools := t.TempDir() // what the probe and the fake use, without this machine's clients
	for _, p := range []string{"cat", "head", "sed"} {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(path, filepath.Join(tools, p)); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		clients []string
		version string
		want    string
		calls   int
	}{
		"no client":             {nil, "", "server=missing\n", 0},
		"mariadb":               {[]string{"mysql", "mariadb"}, "10.11.6-MariaDB", maria, 1},
		"mysql":                 {[]string{"mysql"}, "8.0.36", mysql, 1},
		"mariadb, mysql client": {[]string{"mysql"}, "10.11.6-MariaDB", maria, 2},
		"mysql, mariadb client": {[]string{"mysql", "mariadb"}, "8.0.36", mysql, 2},
		"down":                  {[]string{"mysql", "mariadb"}, "", down, 1},
	} {
		dir := t.TempDir()
		for _, c := range tc.clients {
			if err := os.WriteFile(filepath.Join(dir, c), []byte(fakeServer), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command("/bin/sh")
		cmd.Env = []string{"PATH=" + dir + ":" + tools, "FAKE_MYSQL=" + dir, "FAKE_VERSION=" + tc.version}
		cmd.Stdin = strings.NewReader("(\n" + r.Probe() + ")\n")
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != tc.want {
			t.Errorf("%s: printed %q (%v), want %q", name, out, err, tc.want)
		}
		calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
		if n := strings.Count(string(calls), "call"); n != tc.calls {
			t.Errorf("%s: %d client calls, want %d", name, n, tc.calls)
		}
	}
}

// TestClientTurnsTLSOff runs the client command line with a fake mysql
// that prints its arguments: TLS off in the words each client knows.
func TestClientTurnsTLSOff(t *testing.T) {
	for flavor, want := range map[string]string{
		"mariadb": "--skip-ssl --protocol=socket -uroot -N -B -r",
		"mysql":   "--ssl-mode=DISABLED --protocol=socket -uroot -N -B -r",
	} {
		bin := t.TempDir()
		fake := "#!/bin/sh\necho \"$*\"\n"
		if err := os.WriteFile(filepath.Join(bin, "mysql"), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
		if flavor == "mariadb" { // MariaDB's client package installs both names
			if err := os.WriteFile(filepath.Join(bin, "mariadb"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command("/bin/sh", "-c", client)
		cmd.Env = []string{"PATH=" + bin} // no other mysql or mariadb
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("%s: client ran with %q (%v), want %q", flavor, out, err, want)
		}
	}
}

// A probe starts the client only for its queries: finding which client it
// is starts nothing.
func TestProbeStartsTheClientOnlyForQueries(t *testing.T) {
	bin := t.TempDir()
	log := filepath.Join(bin, "calls")
	fake := "#!/bin/sh\necho \"$*\" >> " + log + "\ncat >/dev/null\necho " + versionMark + "10.11.6-MariaDB\necho utf8mb4\n"
	for _, name := range []string{"mysql", "mariadb"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := &Database{name: "foobar"}
	cmd := exec.Command("/bin/sh")
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader("(\n" + d.Probe() + ")\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if want := "server=up\nversion=10.11.6-MariaDB\n[db]\nutf8mb4\n[end]\n"; string(out) != want {
		t.Errorf("probe printed %q, want %q", out, want)
	}
	calls, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	if len(lines) != 1 || strings.Count(string(calls), "--skip-ssl --protocol=socket") != 1 {
		t.Errorf("mysql calls:\n%s\nwant one, with --skip-ssl", calls)
	}
}

// probeInOneCall prints what the prelude and a second call printed: the
// server's state and version, the section, the client's output and [end]
// after a success; the client's first error lines when it cannot connect.
func TestProbeInOneCallOutput(t *testing.T) {
	for name, tc := range map[string]struct{ fake, want string }{
		"no rows": {"echo " + versionMark + "10.11.6-MariaDB", "server=up\nversion=10.11.6-MariaDB\n[db]\n[end]\n"},
		"rows":    {"echo " + versionMark + "8.0.36; echo latin1", "server=up\nversion=8.0.36\n[db]\nlatin1\n[end]\n"},
		"failed query": {"echo " + versionMark + "8.0.36; echo 'ERROR 1044 (42000): denied' >&2; exit 1",
			"server=up\nversion=8.0.36\n[db]\nERROR 1044 (42000): denied\n"},
		"errors before rows": {"echo 'ERROR 1141 (42000) at line 4: There is no such grant' >&2; echo " + versionMark + "10.11.6-MariaDB; echo acct; echo '[end]'",
			"server=up\nversion=10.11.6-MariaDB\n[db]\nERROR 1141 (42000) at line 4: There is no such grant\nacct\n[end]\n[end]\n"},
		"only an error after": {"echo " + versionMark + "10.11.6-MariaDB; echo 'ERROR 1141 (42000): no grant' >&2",
			"server=up\nversion=10.11.6-MariaDB\n[db]\nERROR 1141 (42000): no grant\n[end]\n"},
		"down": {"echo \"ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)\" >&2; exit 1",
			"server=down\nerror=ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)\n"},
	} {
		bin := t.TempDir()
		if err := os.WriteFile(filepath.Join(bin, "mysql"), []byte("#!/bin/sh\ncat >/dev/null\n"+tc.fake+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/bin/sh")
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		cmd.Stdin = strings.NewReader("(\n" + probeInOneCall(oneCall{Section: "db", SQL: "SELECT 1;", Emit: emitEnd}) + ")\n")
		out, _ := cmd.Output() // a failed query fails the probe, as before
		if string(out) != tc.want {
			t.Errorf("%s: printed %q, want %q", name, out, tc.want)
		}
	}
}
