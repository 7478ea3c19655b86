package haproxy

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/moduletest"
)

// TestScriptsParse: every script this kind generates is valid sh, whatever
// the socket path holds.
func TestScriptsParse(t *testing.T) {
	sock := "/tmp/a b'c $(x)/admin.sock"
	scripts := map[string]string{"probe": probeScript(sock, "web_tls", "web1")}
	for _, state := range []string{"ready", "drain", "maint"} {
		for _, secs := range []int{0, 60} {
			scripts["apply "+state] = applyScript(sock, "web_tls", "web1", state, secs)
		}
	}
	s := &Server{socket: sock, backend: "web_tls", server: "web1", state: "drain", wait: true}
	scripts["backup"], scripts["undo"], _ = s.Reversal("/var/lib/skiff/runs/r/1")
	for name, sc := range scripts {
		cmd := exec.Command("/bin/sh", "-n")
		cmd.Stdin = strings.NewReader(sc)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v: %s\n%s", name, err, out, sc)
		}
		if !strings.Contains(sc, `sock='/tmp/a b'\''c $(x)/admin.sock'`) {
			t.Errorf("%s: socket not quoted:\n%s", name, sc)
		}
	}
}

// listenUnix creates a unix socket at path (nothing accepts on it: the fake
// socat answers instead); with closed, a stale socket file, as a stopped
// HAProxy leaves.
func listenUnix(t *testing.T, path string, closed bool) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if closed {
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
		return
	}
	t.Cleanup(func() { l.Close() })
}

// fakeSocat answers the runtime API commands from testdata files named in
// $FAKES/servers and $FAKES/stat; "set server" commands are logged and
// answered with an empty line, or with $FAKES/answer.
const fakeSocat = `read -r cmd
case $cmd in
"show servers state "*) cat "$(cat "$FAKES/servers")" ;;
"show stat -1 4 -1 typed") cat "$(cat "$FAKES/stat")" ;;
"set server "*) if [ -f "$FAKES/answer" ]; then cat "$FAKES/answer"; else echo; fi ;;
*) echo "Unknown command." ;;
esac`

// awks are the awk implementations found here; Debian hosts have mawk.
func awks(t *testing.T) []string {
	var out []string
	for _, p := range []string{"/usr/bin/mawk", "/usr/bin/gawk", "/usr/bin/original-awk", "/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Skip("no awk")
	}
	return out
}

func abs(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStateFromSamples parses output captured from HAProxy 2.6.12 (see
// testdata/haproxy.cfg) with the probe's own sh and awk.
func TestStateFromSamples(t *testing.T) {
	for _, tc := range []struct {
		name, servers, stat, backend, server string
		want                                 State
	}{
		{"draining with a session", "servers-state-draining.txt", "stat-typed-draining.txt", "web_tls", "web2", State{
			Up: true, Found: true, Admin: "drain", Forced: "drain", AdminBits: "8", OpState: "0",
			Status: "DOWN", Scur: "1", CheckStatus: "L7STS", CheckCode: "404", CheckDesc: "Layer7 wrong status"}},
		{"down", "servers-state-draining.txt", "stat-typed-draining.txt", "web_tls", "web1", State{
			Up: true, Found: true, Admin: "ready", Forced: "ready", AdminBits: "0", OpState: "0",
			Status: "DOWN", Scur: "0", CheckStatus: "L7STS", CheckCode: "404", CheckDesc: "Layer7 wrong status"}},
		{"drained without check", "servers-state-draining.txt", "stat-typed-draining.txt", "web_tls", "web3", State{
			Up: true, Found: true, Admin: "drain", Forced: "drain", AdminBits: "8", OpState: "2",
			Status: "DRAIN", Scur: "0"}},
		{"maint", "servers-state-draining.txt", "stat-typed-draining.txt", "web_tls", "web4", State{
			Up: true, Found: true, Admin: "maint", Forced: "maint", AdminBits: "1", OpState: "0",
			Status: "MAINT", Scur: "0"}},
		{"up", "servers-state-up.txt", "stat-typed-up.txt", "web_tls", "web2", State{
			Up: true, Found: true, Admin: "ready", Forced: "ready", AdminBits: "0", OpState: "2",
			Status: "UP", Scur: "1", CheckStatus: "L7OK", CheckCode: "200", CheckDesc: "Layer7 check passed"}},
		// The same server name in another backend is not mixed up.
		{"other backend", "servers-state-up.txt", "stat-typed-up.txt", "other", "web1", State{
			Up: true, Found: true, Admin: "ready", Forced: "ready", AdminBits: "0", OpState: "2",
			Status: "no check", Scur: "0"}},
		{"no such server", "servers-state-up.txt", "stat-typed-up.txt", "web_tls", "web9", State{Up: true}},
		{"no such backend", "servers-state-nobackend.txt", "stat-typed-up.txt", "nope", "web1", State{Up: true, BackendMissing: true}},
	} {
		for _, awk := range awks(t) {
			t.Run(tc.name+" "+filepath.Base(awk), func(t *testing.T) {
				f := moduletest.FakeCommands(t, map[string]string{"socat": fakeSocat, "awk": "exec " + awk + " \"$@\""})
				f.Write(t, "servers", abs(t, tc.servers))
				f.Write(t, "stat", abs(t, tc.stat))
				sock := filepath.Join(t.TempDir(), "admin.sock")
				listenUnix(t, sock, false)
				s := &Server{socket: sock, backend: tc.backend, server: tc.server, state: "ready"}
				p := moduletest.Probe(t, s)
				if got := parseState(p.Stdout); got != tc.want {
					t.Errorf("state = %+v\nwant    %+v\nprobe output:\n%s", got, tc.want, p.Stdout)
				}
			})
		}
	}
}

// TestStateWithoutHAProxy: no socket, or a stale one, is "down" (not an
// error); a client that cannot be run is an error.
func TestStateWithoutHAProxy(t *testing.T) {
	dir := t.TempDir()
	s := &Server{socket: filepath.Join(dir, "none.sock"), backend: "web_tls", server: "web1", state: "drain"}
	st := parseState(moduletest.Probe(t, s).Stdout)
	if st.Up || st.Error != "" || !strings.Contains(st.Reason, "no socket") {
		t.Errorf("no socket: %+v", st)
	}

	stale := filepath.Join(dir, "stale.sock")
	listenUnix(t, stale, true)
	s.socket = stale
	for _, client := range []string{"socat", "nc", "python3"} {
		if _, err := exec.LookPath(client); err != nil {
			continue
		}
		t.Run(client, func(t *testing.T) {
			onlyClient(t, client)
			st := parseState(moduletest.Probe(t, s).Stdout)
			if st.Up || st.Error != "" || !strings.Contains(st.Reason, "Connection refused") {
				t.Errorf("stale socket: %+v", st)
			}
		})
	}

	t.Run("no client", func(t *testing.T) {
		onlyClient(t, "")
		listenUnix(t, filepath.Join(dir, "live.sock"), false)
		s.socket = filepath.Join(dir, "live.sock")
		st := parseState(moduletest.Probe(t, s).Stdout)
		if st.Up || !strings.Contains(st.Error, "no socat, nc -U") {
			t.Errorf("no client: %+v", st)
		}
	})
}

// onlyClient sets PATH, for the rest of the test, to a folder with the
// tools the scripts use and, of the socket clients, only client ("" for
// none).
func onlyClient(t *testing.T, client string) {
	t.Helper()
	bin := t.TempDir()
	tools := []string{"sh", "awk", "sed", "head", "tr", "date", "sleep", "cat", "grep", "rm", "mktemp", "od"}
	if client != "" {
		tools = append(tools, client)
	}
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if tool == "python3" {
			// A version manager's shim is a script that needs more than
			// this PATH: use the system's interpreter.
			p, err = exec.LookPath("/usr/bin/python3")
		}
		if err != nil {
			if tool == client {
				t.Skipf("%s: %v", tool, err)
			}
			continue
		}
		if p, err = filepath.EvalSymlinks(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
}
