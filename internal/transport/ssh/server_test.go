package ssh

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sftpServerEnv makes the test binary act as sftp-server on stdin/stdout
// (see TestMain), standing in for /usr/lib/openssh/sftp-server under sudo.
const sftpServerEnv = "SKIFF_TEST_SFTP_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(sftpServerEnv) == "1" {
		srv, err := sftp.NewServer(stdio{})
		if err != nil {
			os.Exit(1)
		}
		_ = srv.Serve()
		os.Exit(0)
	}
	// Tests give agent sockets explicitly; the developer's agent stays out.
	os.Unsetenv("SSH_AUTH_SOCK")
	os.Exit(m.Run())
}

type stdio struct{}

func (stdio) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (stdio) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (stdio) Close() error                { os.Stdin.Close(); return os.Stdout.Close() }

// testServer is an in-process SSH server on 127.0.0.1: public-key auth,
// "exec" run with /bin/sh -c (in their own process group, killed when the
// session goes), the "sftp" subsystem served by pkg/sftp, keepalive
// replies, and (when forward is set) direct-tcpip, to act as a bastion.
type testServer struct {
	t     *testing.T
	ln    net.Listener
	port  int
	cfg   *gossh.ServerConfig
	keys  []gossh.Signer
	opts  serverOptions
	conns atomic.Int32

	ignoreKeepalive atomic.Bool
	// dropBeforeExecReply, once set, makes the next exec request drop every
	// connection after recording it and before replying.
	dropBeforeExecReply atomic.Bool

	mu        sync.Mutex
	execs     []string
	forwards  []string
	active    int
	maxActive int
	live      map[net.Conn]bool
	wg        sync.WaitGroup
}

type serverOptions struct {
	hostKeys   []gossh.Signer    // default: one new ed25519 key
	authorized []gossh.PublicKey // client keys accepted
	env        []string          // extra environment for exec'd commands
	forward    bool              // serve direct-tcpip
}

func newTestServer(t *testing.T, opts serverOptions) *testServer {
	t.Helper()
	if len(opts.hostKeys) == 0 {
		opts.hostKeys = []gossh.Signer{newEd25519(t).signer}
	}
	s := &testServer{t: t, keys: opts.hostKeys, opts: opts, live: make(map[net.Conn]bool)}
	s.cfg = &gossh.ServerConfig{
		PublicKeyCallback: func(_ gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			for _, k := range opts.authorized {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
			return nil, io.ErrUnexpectedEOF // any error refuses
		},
	}
	for _, k := range opts.hostKeys {
		s.cfg.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.port = ln.Addr().(*net.TCPAddr).Port
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *testServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		s.mu.Lock()
		s.live[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handleConn(c)
	}
}

// drop closes every client connection, as a network failure would.
func (s *testServer) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.live {
		c.Close()
	}
}

func (s *testServer) close() {
	s.ln.Close()
	s.drop()
	s.wg.Wait()
}

func (s *testServer) handleConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.live, c)
		s.mu.Unlock()
		c.Close()
	}()
	sc, chans, reqs, err := gossh.NewServerConn(c, s.cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for req := range reqs {
			switch {
			case req.Type == "keepalive@openssh.com" && s.ignoreKeepalive.Load():
				// never answer: a host that froze
			case req.Type == "keepalive@openssh.com":
				req.Reply(true, nil)
			case req.WantReply:
				req.Reply(false, nil)
			}
		}
	}()
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			s.wg.Add(1)
			go s.handleSession(nc)
		case "direct-tcpip":
			if !s.opts.forward {
				nc.Reject(gossh.Prohibited, "no forwarding")
				continue
			}
			s.wg.Add(1)
			go s.handleForward(nc)
		default:
			nc.Reject(gossh.UnknownChannelType, "unknown channel type")
		}
	}
}

func (s *testServer) handleSession(nc gossh.NewChannel) {
	defer s.wg.Done()
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	// active counts running commands and SFTP servers; each is uncounted
	// before the client can learn that it ended, so that maxActive never
	// overstates the client's concurrency.
	begin := func() {
		s.mu.Lock()
		s.active++
		s.maxActive = max(s.maxActive, s.active)
		s.mu.Unlock()
	}
	end := func() {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
	}
	var (
		mu   sync.Mutex
		proc *os.Process
		done bool
		jobs sync.WaitGroup
	)
	kill := func() {
		mu.Lock()
		defer mu.Unlock()
		if proc != nil && !done {
			syscall.Kill(-proc.Pid, syscall.SIGKILL)
		}
	}
	defer jobs.Wait()
	defer kill() // the client closed the session: its processes go
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if err := gossh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			s.mu.Lock()
			s.execs = append(s.execs, p.Command)
			s.mu.Unlock()
			if s.dropBeforeExecReply.CompareAndSwap(true, false) {
				s.drop()
				continue
			}
			cmd := exec.Command("/bin/sh", "-c", p.Command)
			cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
			cmd.Env = append(os.Environ(), s.opts.env...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.WaitDelay = time.Second
			// Like sshd, end the session when the process exits, even if
			// the client never closes its stdin (os/exec would wait for
			// a Stdin reader to reach EOF).
			stdin, err := cmd.StdinPipe()
			if err != nil {
				req.Reply(false, nil)
				continue
			}
			if err := cmd.Start(); err != nil {
				req.Reply(false, nil)
				continue
			}
			jobs.Add(1)
			go func() {
				defer jobs.Done()
				io.Copy(stdin, ch)
				stdin.Close()
			}()
			begin()
			mu.Lock()
			proc = cmd.Process
			mu.Unlock()
			req.Reply(true, nil)
			jobs.Add(1)
			go func() {
				defer jobs.Done()
				_ = cmd.Wait()
				mu.Lock()
				done = true
				mu.Unlock()
				end()
				sendExit(ch, cmd.ProcessState)
				ch.Close()
			}()
		case "subsystem":
			var p struct{ Name string }
			if gossh.Unmarshal(req.Payload, &p) != nil || p.Name != "sftp" {
				req.Reply(false, nil)
				continue
			}
			begin()
			req.Reply(true, nil)
			jobs.Add(1)
			go func() {
				defer jobs.Done()
				if srv, err := sftp.NewServer(ch); err == nil {
					_ = srv.Serve()
				}
				end()
				ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{0}))
				ch.Close()
			}()
		case "signal":
			kill()
		default:
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

func sendExit(ch gossh.Channel, ps *os.ProcessState) {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		names := map[syscall.Signal]string{syscall.SIGKILL: "KILL", syscall.SIGTERM: "TERM", syscall.SIGHUP: "HUP", syscall.SIGINT: "INT"}
		if name, ok := names[ws.Signal()]; ok {
			ch.SendRequest("exit-signal", false, gossh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Error      string
				Lang       string
			}{Signal: name}))
			return
		}
	}
	ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{uint32(ps.ExitCode())}))
}

func (s *testServer) handleForward(nc gossh.NewChannel) {
	defer s.wg.Done()
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := gossh.Unmarshal(nc.ExtraData(), &p); err != nil {
		nc.Reject(gossh.ConnectionFailed, "bad payload")
		return
	}
	target := net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port)))
	s.mu.Lock()
	s.forwards = append(s.forwards, target)
	s.mu.Unlock()
	tc, err := net.Dial("tcp", target)
	if err != nil {
		nc.Reject(gossh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		tc.Close()
		return
	}
	go gossh.DiscardRequests(reqs)
	var once sync.Once
	both := func() { once.Do(func() { tc.Close(); ch.Close() }) }
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(ch, tc); both() }()
	go func() { defer wg.Done(); io.Copy(tc, ch); both() }()
	wg.Wait()
}

func (s *testServer) execLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.execs...)
}

// silentServer accepts TCP connections and never says a word.
func silentServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// closedPort returns a port on which nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// keyPair is a private key with its signer.
type keyPair struct {
	priv   any
	signer gossh.Signer
}

func newKeyPair(t *testing.T, priv any) keyPair {
	t.Helper()
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{priv: priv, signer: s}
}

func newEd25519(t *testing.T) keyPair {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newKeyPair(t, priv)
}

func newECDSA(t *testing.T) keyPair {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newKeyPair(t, priv)
}

func newRSA(t *testing.T) keyPair {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return newKeyPair(t, priv)
}

// writeKey writes k as an OpenSSH private key file, encrypted when
// passphrase is not empty.
func writeKey(t *testing.T, k keyPair, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = gossh.MarshalPrivateKey(k.priv, "test")
	} else {
		block, err = gossh.MarshalPrivateKeyWithPassphrase(k.priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_test")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// knownHostsLine is the known_hosts line recording key for addr.
func knownHostsLine(addr string, key gossh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
}

// startAgent serves an ssh-agent holding keys on a unix socket.
func startAgent(t *testing.T, keys ...any) string {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				agent.ServeAgent(kr, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return sock
}

// fixture is a server with a client key it accepts and a known_hosts file
// recording its host keys.
type fixture struct {
	srv        *testServer
	client     keyPair
	keyPath    string
	knownHosts string
}

func newFixture(t *testing.T, opts serverOptions) *fixture {
	t.Helper()
	client := newEd25519(t)
	opts.authorized = append(opts.authorized, client.signer.PublicKey())
	srv := newTestServer(t, opts)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	var b strings.Builder
	for _, k := range srv.keys {
		b.WriteString(knownHostsLine(srv.addr(), k.PublicKey()))
	}
	if err := os.WriteFile(kh, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, client: client, keyPath: writeKey(t, client, ""), knownHosts: kh}
}

func (f *fixture) config() Config {
	return Config{
		Host:           "web1",
		Address:        "127.0.0.1",
		Port:           f.srv.port,
		User:           "root",
		PrivateKey:     f.keyPath,
		KnownHosts:     f.knownHosts,
		ConnectTimeout: 5 * time.Second,
	}
}

func dial(t *testing.T, cfg Config) *Transport {
	t.Helper()
	tr, err := Dial(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr.(*Transport)
}
