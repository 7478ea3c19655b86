package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/skiffdeploy/skiff/internal/transport"
)

func TestRunCapturesOutputAndExitCode(t *testing.T) {
	f := newFixture(t, serverOptions{})
	tr := dial(t, f.config())

	res, err := tr.Run(t.Context(), "echo out; echo err >&2; SECRET_MARKER=1; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
		t.Errorf("got stdout %q stderr %q exit %d", res.Stdout, res.Stderr, res.ExitCode)
	}
	// The script travels on stdin: the command line is exactly "sh -s".
	if got := f.srv.execLog(); len(got) != 1 || got[0] != "sh -s" {
		t.Errorf("exec payloads = %q, want [\"sh -s\"]", got)
	}
}

func TestRunScriptShapes(t *testing.T) {
	f := newFixture(t, serverOptions{})
	tr := dial(t, f.config())
	tests := []struct {
		name, script, stdout string
		exit                 int
	}{
		// cat gets /dev/null, not the rest of the script.
		{"stdin readers do not eat the script", "cat\necho after", "after\n", 0},
		{"empty", "", "", 0},
		{"comments only", "# nothing", "", 0},
		{"heredoc at the end", "cat <<EOF\nhello\nEOF", "hello\n", 0},
		{"no trailing newline", "echo a; false", "a\n", 1},
		{"killed by a signal", "kill -9 $$", "", 128 + 9},
		{"set -e", "set -e\nfalse\necho not reached", "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tr.Run(t.Context(), tc.script)
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Stdout) != tc.stdout || res.ExitCode != tc.exit {
				t.Errorf("got stdout %q exit %d (stderr %q), want %q exit %d", res.Stdout, res.ExitCode, res.Stderr, tc.stdout, tc.exit)
			}
		})
	}
}

func TestWriteFileAndStat(t *testing.T) {
	f := newFixture(t, serverOptions{})
	tr := dial(t, f.config())
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.conf")

	// 0666 is wider than the umask allows at creation: chmod must apply it.
	for _, perm := range []os.FileMode{0o640, 0o666, 0o600} {
		content := "perm " + perm.String() + "\n"
		if err := tr.WriteFile(ctx, path, strings.NewReader(content), perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("content = %q, %v; want %q", got, err, content)
		}
		fi, err := tr.Stat(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size != int64(len(content)) || fi.Mode.Perm() != perm || fi.IsDir || fi.ModTime.IsZero() {
			t.Errorf("Stat = %+v, want size %d perm %v", fi, len(content), perm)
		}
	}

	// Big enough for several concurrent SFTP writes.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	if err := tr.WriteFile(ctx, path, bytes.NewReader(big), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, big) {
		t.Errorf("big file: got %d bytes, want %d", len(got), len(big))
	}

	fi, err := tr.Stat(ctx, dir)
	if err != nil || !fi.IsDir {
		t.Errorf("Stat(dir) = %+v, %v", fi, err)
	}
	_, err = tr.Stat(ctx, filepath.Join(dir, "missing"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "web1") {
		t.Errorf("Stat(missing) = %v, want os.ErrNotExist naming the host", err)
	}
	err = tr.WriteFile(ctx, filepath.Join(dir, "no", "such", "dir"), strings.NewReader("x"), 0o644)
	if err == nil || transport.IsUnreachable(err) || !strings.Contains(err.Error(), "web1") {
		t.Errorf("WriteFile into a missing dir = %v, want a plain error naming the host", err)
	}
	// One SFTP session serves every call.
	if n := f.srv.conns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

func TestWriteFileFailingReaderRemovesPartialFile(t *testing.T) {
	f := newFixture(t, serverOptions{})
	tr := dial(t, f.config())
	path := filepath.Join(t.TempDir(), "partial")
	boom := errors.New("boom")
	err := tr.WriteFile(t.Context(), path, &failingReader{data: []byte("some"), err: boom}, 0o644)
	if !errors.Is(err, boom) {
		t.Errorf("WriteFile = %v, want boom", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file left behind: %v", err)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestUnknownHostKeyRefused(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	cfg.KnownHosts = filepath.Join(t.TempDir(), "absent_known_hosts")
	_, err := Dial(t.Context(), cfg)

	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Kind != HostKeyUnknown {
		t.Fatalf("Dial = %v, want an unknown-key HostKeyError", err)
	}
	if transport.IsUnreachable(err) {
		t.Error("a refused key must not be reported as unreachable")
	}
	fp := gossh.FingerprintSHA256(f.srv.keys[0].PublicKey())
	for _, want := range []string{
		"web1", f.srv.addr(), "ssh-ed25519", fp, "--accept-new-host-keys",
		"ssh-keyscan -p " + strconv.Itoa(f.srv.port) + " -H 127.0.0.1 >> " + cfg.KnownHosts,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, statErr := os.Stat(cfg.KnownHosts); !errors.Is(statErr, os.ErrNotExist) {
		t.Error("a refused key must not create known_hosts")
	}
}

func TestAcceptNewHostKey(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	dir := filepath.Join(t.TempDir(), "home", ".ssh")
	cfg.KnownHosts = filepath.Join(dir, "known_hosts")
	cfg.AcceptNewHostKeys = true
	tr := dial(t, cfg)
	if _, err := tr.Run(t.Context(), "true"); err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(cfg.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	want := knownHostsLine(f.srv.addr(), f.srv.keys[0].PublicKey())
	if string(data) != want {
		t.Errorf("known_hosts = %q, want %q", data, want)
	}
	if !strings.HasPrefix(string(data), "[127.0.0.1]:"+strconv.Itoa(f.srv.port)+" ") {
		t.Errorf("known_hosts line %q is not in the [host]:port form", data)
	}
	if fi, err := os.Stat(cfg.KnownHosts); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("known_hosts dir mode = %v, %v; want 0700", fi.Mode(), err)
	}

	cfg.AcceptNewHostKeys = false
	tr2 := dial(t, cfg)
	if _, err := tr2.Run(t.Context(), "true"); err != nil {
		t.Fatal(err)
	}
	if data2, _ := os.ReadFile(cfg.KnownHosts); !bytes.Equal(data, data2) {
		t.Errorf("known_hosts changed on a known key: %q", data2)
	}
}

func TestAcceptNewHostKeyAppendsAfterUnterminatedLine(t *testing.T) {
	f := newFixture(t, serverOptions{})
	other := newEd25519(t)
	cfg := f.config()
	cfg.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	first := strings.TrimSuffix(knownHostsLine("10.9.9.9:22", other.signer.PublicKey()), "\n")
	if err := os.WriteFile(cfg.KnownHosts, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.AcceptNewHostKeys = true
	dial(t, cfg)
	data, _ := os.ReadFile(cfg.KnownHosts)
	want := first + "\n" + knownHostsLine(f.srv.addr(), f.srv.keys[0].PublicKey())
	if string(data) != want {
		t.Errorf("known_hosts = %q, want %q", data, want)
	}
}

func TestConcurrentAcceptRecordsOneKey(t *testing.T) {
	// Two host key types: concurrent first contacts must agree on one.
	f := newFixture(t, serverOptions{hostKeys: []gossh.Signer{newEd25519(t).signer, newECDSA(t).signer}})
	cfg := f.config()
	cfg.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	cfg.AcceptNewHostKeys = true
	cfg.HostKeys = NewHostKeyStore()

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := Dial(t.Context(), cfg)
			if err == nil {
				tr.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	data, _ := os.ReadFile(cfg.KnownHosts)
	if n := strings.Count(string(data), "\n"); n != 1 {
		t.Errorf("known_hosts has %d lines, want 1:\n%s", n, data)
	}
}

func TestChangedHostKeyRefusedEvenWithAcceptNew(t *testing.T) {
	f := newFixture(t, serverOptions{})
	old := newEd25519(t)
	cfg := f.config()
	content := "# recorded long ago\n" + knownHostsLine(f.srv.addr(), old.signer.PublicKey())
	if err := os.WriteFile(cfg.KnownHosts, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.AcceptNewHostKeys = true
	_, err := Dial(t.Context(), cfg)

	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Kind != HostKeyChanged {
		t.Fatalf("Dial = %v, want a changed-key HostKeyError", err)
	}
	if transport.IsUnreachable(err) {
		t.Error("a changed key must not be reported as unreachable")
	}
	newFP := gossh.FingerprintSHA256(f.srv.keys[0].PublicKey())
	oldFP := gossh.FingerprintSHA256(old.signer.PublicKey())
	for _, want := range []string{"web1", "CHANGED", newFP, oldFP, cfg.KnownHosts + ":2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(hk.Known) != 1 || hk.Known[0].Fingerprint != oldFP || hk.Known[0].Line != 2 || hk.Fingerprint != newFP {
		t.Errorf("HostKeyError = %+v", hk)
	}
	if data, _ := os.ReadFile(cfg.KnownHosts); string(data) != content {
		t.Errorf("known_hosts was modified: %q", data)
	}
}

func TestRevokedHostKeyRefused(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	key := f.srv.keys[0].PublicKey()
	revoked := "@revoked * " + strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key))) + "\n"
	if err := os.WriteFile(cfg.KnownHosts, []byte(knownHostsLine(f.srv.addr(), key)+revoked), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.AcceptNewHostKeys = true
	_, err := Dial(t.Context(), cfg)
	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Kind != HostKeyRevoked || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("Dial = %v, want a revoked-key HostKeyError", err)
	}
}

func TestHostKeyAlgorithmsFollowKnownHosts(t *testing.T) {
	ed, ec, rs := newEd25519(t), newECDSA(t), newRSA(t)
	tests := []struct {
		name     string
		server   []gossh.Signer
		recorded gossh.Signer
	}{
		// x/crypto prefers ECDSA, then RSA, then Ed25519.
		{"ed25519 recorded, server also has ecdsa and rsa", []gossh.Signer{ec.signer, rs.signer, ed.signer}, ed.signer},
		{"rsa recorded, server also has ecdsa", []gossh.Signer{ec.signer, rs.signer}, rs.signer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, serverOptions{hostKeys: tc.server})
			if err := os.WriteFile(f.knownHosts, []byte(knownHostsLine(f.srv.addr(), tc.recorded.PublicKey())), 0o600); err != nil {
				t.Fatal(err)
			}
			// The pitfall: x/crypto's default algorithms fail here.
			cb, err := knownhosts.New(f.knownHosts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = gossh.Dial("tcp", f.srv.addr(), &gossh.ClientConfig{
				User: "root", HostKeyCallback: cb,
				Auth: []gossh.AuthMethod{gossh.PublicKeys(f.client.signer)},
			})
			var ke *knownhosts.KeyError
			if !errors.As(err, &ke) {
				t.Logf("x/crypto's defaults no longer trip on this (%v); the test still checks skiff", err)
			}

			tr := dial(t, f.config())
			if _, err := tr.Run(t.Context(), "true"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestClosedPortIsUnreachable(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	cfg.Port = closedPort(t)
	_, err := Dial(t.Context(), cfg)
	var u *transport.UnreachableError
	if !errors.As(err, &u) || u.Host != "web1" {
		t.Fatalf("Dial = %v, want UnreachableError for web1", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %v does not wrap ECONNREFUSED", err)
	}
}

func TestSilentServerTimesOut(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	cfg.Port = silentServer(t)
	cfg.ConnectTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err := Dial(t.Context(), cfg)
	if !transport.IsUnreachable(err) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Dial = %v, want an unreachable timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Dial took %v with a 300ms ConnectTimeout", d)
	}
}

func TestDialContextCancelled(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	cfg.Port = silentServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) || transport.IsUnreachable(err) {
		t.Fatalf("Dial = %v, want the context's error", err)
	}
}

func TestRunContextCancelKillsRemoteShell(t *testing.T) {
	f := newFixture(t, serverOptions{})
	tr := dial(t, f.config())
	pidFile := filepath.Join(t.TempDir(), "pid")

	// Cancel once the shell has said its pid: the write to a temp file
	// and its rename make the pid whole when the file appears.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := tr.Run(ctx, "echo $$ > '"+pidFile+".tmp'; mv '"+pidFile+".tmp' '"+pidFile+"'; sleep 30")
		done <- err
	}()
	waitFor(t, 10*time.Second, "the remote shell to start", func() bool { return fileExists(pidFile) })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || transport.IsUnreachable(err) {
			t.Fatalf("Run = %v, want the context's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}

	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	waitFor(t, 5*time.Second, "the remote shell to be killed", func() bool { return processGone(pid) })

	// The connection is still good.
	if res, err := tr.Run(t.Context(), "echo ok"); err != nil || string(res.Stdout) != "ok\n" {
		t.Errorf("Run after cancel = %q, %v", res.Stdout, err)
	}
}

func TestConcurrentRunsShareOneConnection(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	cfg.MaxSessions = 8
	tr := dial(t, cfg)

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := tr.Run(t.Context(), fmt.Sprintf("sleep 0.05; echo %d", i))
			if err != nil || string(res.Stdout) != fmt.Sprintf("%d\n", i) {
				t.Errorf("Run %d = %q, %v", i, res.Stdout, err)
			}
		}()
	}
	// SFTP calls share the connection too.
	dir := t.TempDir()
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := filepath.Join(dir, strconv.Itoa(i))
			if err := tr.WriteFile(t.Context(), p, strings.NewReader("x"), 0o644); err != nil {
				t.Error(err)
			} else if _, err := tr.Stat(t.Context(), p); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.srv.conns.Load(); n != 1 {
		t.Errorf("server saw %d TCP connections, want 1", n)
	}
	f.srv.mu.Lock()
	maxActive := f.srv.maxActive
	f.srv.mu.Unlock()
	if maxActive > cfg.MaxSessions {
		t.Errorf("%d sessions at once, MaxSessions is %d", maxActive, cfg.MaxSessions)
	}
}

func TestBastion(t *testing.T) {
	target := newFixture(t, serverOptions{})
	jump := newTestServer(t, serverOptions{
		forward:    true,
		authorized: []gossh.PublicKey{target.client.signer.PublicKey()},
	})
	cfg := target.config()
	cfg.Bastion = "root@127.0.0.1:" + strconv.Itoa(jump.port)

	// Unknown bastion key: refused, and said to be the bastion's.
	_, err := Dial(t.Context(), cfg)
	var hk *HostKeyError
	if !errors.As(err, &hk) || !hk.Bastion || hk.Address != jump.addr() || !strings.Contains(err.Error(), "bastion") {
		t.Fatalf("Dial with unknown bastion key = %v", err)
	}

	f, err := os.OpenFile(cfg.KnownHosts, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(knownHostsLine(jump.addr(), jump.keys[0].PublicKey()))
	f.Close()

	tr := dial(t, cfg)
	res, err := tr.Run(t.Context(), "echo via")
	if err != nil || string(res.Stdout) != "via\n" {
		t.Fatalf("Run = %q, %v", res.Stdout, err)
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := tr.WriteFile(t.Context(), p, strings.NewReader("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	jump.mu.Lock()
	forwards := append([]string(nil), jump.forwards...)
	jump.mu.Unlock()
	if len(forwards) != 1 || forwards[0] != target.srv.addr() {
		t.Errorf("bastion forwarded to %q, want [%s]", forwards, target.srv.addr())
	}
	// The refused Dial stopped at the bastion: the target saw one connection.
	if n := target.srv.conns.Load(); n != 1 {
		t.Errorf("target saw %d connections, want 1", n)
	}

	// A bastion that cannot reach the target: the target is unreachable.
	cfg.Port = closedPort(t)
	_, err = Dial(t.Context(), cfg)
	if !transport.IsUnreachable(err) || !strings.Contains(err.Error(), "bastion") {
		t.Errorf("Dial to a closed port via bastion = %v, want unreachable", err)
	}
}

func TestAuthFailure(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	cfg.PrivateKey = writeKey(t, newEd25519(t), "")
	_, err := Dial(t.Context(), cfg)
	var ae *AuthError
	if !errors.As(err, &ae) || transport.IsUnreachable(err) {
		t.Fatalf("Dial = %v, want an AuthError", err)
	}
	for _, want := range []string{"web1", `"root"`, cfg.PrivateKey} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestPassphraseProtectedKey(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	cfg.PrivateKey = writeKey(t, f.client, "secret")

	_, err := Dial(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "ssh-agent") || !strings.Contains(err.Error(), "ssh-add") || !strings.Contains(err.Error(), "web1") {
		t.Fatalf("Dial = %v, want a hint to use ssh-agent", err)
	}

	// Once the key is in the agent, the same config works.
	cfg.AgentSocket = startAgent(t, f.client.priv)
	tr := dial(t, cfg)
	if _, err := tr.Run(t.Context(), "true"); err != nil {
		t.Fatal(err)
	}
}

func TestAgentOnly(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	cfg.PrivateKey = ""
	cfg.AgentSocket = startAgent(t, newEd25519(t).priv, f.client.priv)
	tr := dial(t, cfg)
	if _, err := tr.Run(t.Context(), "true"); err != nil {
		t.Fatal(err)
	}

	cfg.AgentSocket = ""
	if _, err := Dial(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "SSH_AUTH_SOCK") {
		t.Errorf("Dial without key or agent = %v", err)
	}
}

func TestKeepAliveDeclaresFrozenHostLost(t *testing.T) {
	f := newFixture(t, serverOptions{})
	cfg := f.config()
	cfg.KeepAlive = 50 * time.Millisecond
	tr := dial(t, cfg)

	// Frozen from the start: with keepalives this frequent, a busy machine
	// could miss three answers from a live server too.
	f.srv.ignoreKeepalive.Store(true)
	start := time.Now()
	_, err := tr.Run(t.Context(), "sleep 20")
	if !transport.IsUnreachable(err) || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("Run = %v, want unreachable after missed keepalives", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("loss detected after %v", d)
	}
}

func TestReconnectOnce(t *testing.T) {
	f := newFixture(t, serverOptions{})
	tr := dial(t, f.config())
	ctx := t.Context()

	// A script running when the connection drops fails as unreachable,
	// and is not retried. The script itself says it runs: the server's
	// record of the exec request comes before the client learns that the
	// shell started, and a drop in between is retried (see
	// TestRetryWhenDroppedBeforeScriptSent).
	started := filepath.Join(t.TempDir(), "started")
	done := make(chan error, 1)
	go func() {
		_, err := tr.Run(ctx, "touch '"+started+"'; sleep 20")
		done <- err
	}()
	waitFor(t, 5*time.Second, "the script to start", func() bool { return fileExists(started) })
	f.srv.drop()
	select {
	case err := <-done:
		if !transport.IsUnreachable(err) {
			t.Fatalf("Run during drop = %v, want unreachable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not notice the dropped connection")
	}
	if execs := f.srv.execLog(); len(execs) != 1 {
		t.Fatalf("exec requests = %q, want the one that ran (no retry)", execs)
	}

	// The next call reconnects.
	if res, err := tr.Run(ctx, "echo again"); err != nil || string(res.Stdout) != "again\n" {
		t.Fatalf("Run after reconnect = %q, %v", res.Stdout, err)
	}
	if _, err := tr.Stat(ctx, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.conns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}

	// Only once.
	f.srv.drop()
	waitFor(t, 5*time.Second, "the drop to be seen", func() bool { return tr.cur.isDead() })
	if _, err := tr.Run(ctx, "true"); !transport.IsUnreachable(err) {
		t.Errorf("Run after second drop = %v, want unreachable", err)
	}
	if _, err := tr.Stat(ctx, "/"); !transport.IsUnreachable(err) {
		t.Errorf("Stat after second drop = %v, want unreachable", err)
	}
}

func TestRetryWhenDroppedBeforeScriptSent(t *testing.T) {
	f := newFixture(t, serverOptions{})
	tr := dial(t, f.config())
	ran := filepath.Join(t.TempDir(), "ran")

	// The server takes the exec request, then the connection drops before
	// the client hears that the shell started: the script never left the
	// client, so Run sends it once more, on a new connection.
	f.srv.dropBeforeExecReply.Store(true)
	res, err := tr.Run(t.Context(), "echo run >> '"+ran+"'; echo done")
	if err != nil || string(res.Stdout) != "done\n" {
		t.Fatalf("Run = %q, %v; want it retried after the drop", res.Stdout, err)
	}
	if data, err := os.ReadFile(ran); err != nil || string(data) != "run\n" {
		t.Errorf("the script ran as %q (%v), want exactly once", data, err)
	}
	if n := f.srv.conns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
	if execs := f.srv.execLog(); len(execs) != 2 {
		t.Errorf("exec requests = %q, want the dropped one and the retry", execs)
	}
}

func TestCloseThenUse(t *testing.T) {
	f := newFixture(t, serverOptions{})
	tr := dial(t, f.config())
	if _, err := tr.Stat(t.Context(), "/"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := tr.Run(t.Context(), "true")
	if err == nil || transport.IsUnreachable(err) {
		t.Errorf("Run after Close = %v, want a plain error", err)
	}
}

// becomeFixture serves a fake sudo, and the test binary as sftp-server.
func becomeFixture(t *testing.T, sudo string) (*fixture, Config) {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(sudo), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, serverOptions{env: []string{"PATH=" + bin + ":" + os.Getenv("PATH"), sftpServerEnv + "=1"}})
	cfg := f.config()
	cfg.User = "deploy"
	cfg.Become = true
	cfg.SFTPServerPaths = []string{"/nonexistent/sftp-server", self}
	return f, cfg
}

const fakeSudo = `#!/bin/sh
[ "$1" = -n ] || { echo "fake sudo: want -n" >&2; exit 2; }
shift
exec "$@"
`

const passwordSudo = `#!/bin/sh
echo "sudo: a password is required" >&2
exit 1
`

func TestBecome(t *testing.T) {
	f, cfg := becomeFixture(t, fakeSudo)
	tr := dial(t, cfg)
	res, err := tr.Run(t.Context(), "echo as root")
	if err != nil || string(res.Stdout) != "as root\n" {
		t.Fatalf("Run = %q %q, %v", res.Stdout, res.Stderr, err)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := tr.WriteFile(t.Context(), path, strings.NewReader("hi"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := tr.Stat(t.Context(), path); err != nil || fi.Size != 2 {
		t.Errorf("Stat = %+v, %v", fi, err)
	}
	execs := f.srv.execLog()
	if len(execs) != 2 || execs[0] != "sudo -n sh -s" || !strings.HasPrefix(execs[1], "sudo -n sh -c ") {
		t.Errorf("exec payloads = %q", execs)
	}
}

func TestBecomeWithoutSFTPServer(t *testing.T) {
	_, cfg := becomeFixture(t, fakeSudo)
	cfg.SFTPServerPaths = []string{"/nonexistent/a", "/nonexistent/it's"}
	tr := dial(t, cfg)
	_, err := tr.Stat(t.Context(), "/")
	if err == nil || !strings.Contains(err.Error(), "no sftp-server found") || transport.IsUnreachable(err) {
		t.Errorf("Stat = %v, want 'no sftp-server found'", err)
	}
}

func TestSudoPasswordRequired(t *testing.T) {
	_, cfg := becomeFixture(t, passwordSudo)
	tr := dial(t, cfg)
	_, err := tr.Run(t.Context(), "true")
	var se *SudoPasswordError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "sudo requires a password on web1; configure NOPASSWD") || !strings.Contains(err.Error(), "--ask-become-pass") {
		t.Errorf("Run = %v, want SudoPasswordError", err)
	}
	err = tr.WriteFile(t.Context(), filepath.Join(t.TempDir(), "f"), strings.NewReader("x"), 0o644)
	if !errors.As(err, &se) {
		t.Errorf("WriteFile = %v, want SudoPasswordError", err)
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	base := Config{Address: "10.0.0.1", User: "deploy", KnownHosts: "/k"}
	c, err := base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "10.0.0.1" || c.Port != 22 || c.ConnectTimeout != 10*time.Second || c.KeepAlive != 15*time.Second || c.MaxSessions != 8 || c.HostKeys == nil || len(c.SFTPServerPaths) == 0 {
		t.Errorf("defaults: %+v", c)
	}
	bad := map[string]func(*Config){
		"no address":     func(c *Config) { c.Address = "" },
		"no user":        func(c *Config) { c.User = "" },
		"no known_hosts": func(c *Config) { c.KnownHosts = "" },
		"bad port":       func(c *Config) { c.Port = 70000 },
		"bad bastion":    func(c *Config) { c.Bastion = "u@h:nope" },
	}
	for name, mutate := range bad {
		c := base
		mutate(&c)
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		spec string
		want endpoint
	}{
		{"jump.example.com", endpoint{"deploy", "jump.example.com", 22}},
		{"ops@jump", endpoint{"ops", "jump", 22}},
		{"ops@jump:2222", endpoint{"ops", "jump", 2222}},
		{"[2001:db8::1]:2222", endpoint{"deploy", "2001:db8::1", 2222}},
		{"[2001:db8::1]", endpoint{"deploy", "2001:db8::1", 22}},
	}
	for _, tc := range tests {
		got, err := parseEndpoint(tc.spec, "deploy")
		if err != nil || got != tc.want {
			t.Errorf("parseEndpoint(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	for _, spec := range []string{"@host", "user@", "h:0"} {
		if _, err := parseEndpoint(spec, "deploy"); err == nil {
			t.Errorf("parseEndpoint(%q): no error", spec)
		}
	}
}

// processGone reports whether pid has exited. A zombie counts as gone: the
// shell, orphaned by the kill, waits for init to reap it.
func processGone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
