// Package fleet is a bench-only SSH server that stands in for many hosts at
// once, in one process: one listener per host (its own loopback address),
// each answering skiff's remote scripts from a Book recorded once on a real
// converged host. It does none of a host's work: only skiff's side of a
// run costs anything worth measuring. It also acts as a bastion (direct-tcpip
// to any of its hosts, served in process), and counts, per listener, the
// connections that are open but not yet authenticated, as sshd's
// MaxStartups does.
package fleet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Answerer answers one session: its exec command and all of its stdin.
type Answerer func(command, stdin string) (Reply, error)

// Server is a fleet of fake hosts.
type Server struct {
	cfg     *ssh.ServerConfig
	hostKey ssh.PublicKey
	answer  Answerer

	mu        sync.RWMutex
	endpoints map[string]*Endpoint // by "ip:port"

	sessions, misses atomic.Int64
	lastMiss         atomic.Value // string
	wg               sync.WaitGroup
	closed           atomic.Bool
}

// Endpoint is one listening fake host (or the bastion).
type Endpoint struct {
	Addr string
	ln   net.Listener

	unauth, maxUnauth atomic.Int32
	conns             atomic.Int64
}

// New is a server whose host key is fresh and which lets in only the
// holder of client (the bench's key), answering sessions with answer.
func New(client ssh.PublicKey, answer Answerer) (*Server, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	want := client.Marshal()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), want) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(signer)
	return &Server{cfg: cfg, hostKey: signer.PublicKey(), answer: answer, endpoints: map[string]*Endpoint{}}, nil
}

// Listen adds a host listening on addr ("ip:port").
func (s *Server) Listen(addr string) (*Endpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ep := &Endpoint{Addr: ln.Addr().String(), ln: ln}
	s.mu.Lock()
	s.endpoints[ep.Addr] = ep
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, ep)
		}
	}()
	return ep, nil
}

// KnownHostsLine is the known_hosts line of the server's key at addr.
func (s *Server) KnownHostsLine(addr string) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, s.hostKey)
}

// Close stops listening. Open connections end with the process.
func (s *Server) Close() {
	s.closed.Store(true)
	s.mu.RLock()
	for _, ep := range s.endpoints {
		_ = ep.ln.Close()
	}
	s.mu.RUnlock()
	s.wg.Wait()
}

// Stats are the counts since the last ResetStats.
type Stats struct {
	// MaxUnauth is the most connections any one listener held open and
	// not yet authenticated at once; MaxUnauthAt is that listener.
	MaxUnauth   int
	MaxUnauthAt string
	Conns       int64 // connections accepted, bastion's included
	Sessions    int64
	Misses      int64  // sessions with no recorded answer
	LastMiss    string // the last of them, for the log
}

// StatsOf reads the counts; exclude names listeners left out of
// MaxUnauth (the bastion, reported on its own).
func (s *Server) StatsOf(exclude ...string) Stats {
	st := Stats{Sessions: s.sessions.Load(), Misses: s.misses.Load()}
	if m, ok := s.lastMiss.Load().(string); ok {
		st.LastMiss = m
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for addr, ep := range s.endpoints {
		st.Conns += ep.conns.Load()
		if contains(exclude, addr) {
			continue
		}
		if m := int(ep.maxUnauth.Load()); m > st.MaxUnauth {
			st.MaxUnauth, st.MaxUnauthAt = m, addr
		}
	}
	return st
}

// MaxUnauth is the most unauthenticated connections ep held at once.
func (ep *Endpoint) MaxUnauth() int { return int(ep.maxUnauth.Load()) }

// ResetStats zeroes every count.
func (s *Server) ResetStats() {
	s.sessions.Store(0)
	s.misses.Store(0)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ep := range s.endpoints {
		ep.maxUnauth.Store(0)
		ep.conns.Store(0)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// serve runs one connection to ep: the handshake (counted as
// unauthenticated until it ends), then its channels.
func (s *Server) serve(c net.Conn, ep *Endpoint) {
	ep.conns.Add(1)
	n := ep.unauth.Add(1)
	for {
		m := ep.maxUnauth.Load()
		if n <= m || ep.maxUnauth.CompareAndSwap(m, n) {
			break
		}
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	ep.unauth.Add(-1)
	if err != nil {
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			go s.session(nc)
		case "direct-tcpip":
			s.forward(nc)
		default:
			_ = nc.Reject(ssh.UnknownChannelType, "not here")
		}
	}
}

// forward serves a direct-tcpip channel to one of the server's own hosts,
// in process: what a bastion's sshd does by connecting onwards.
func (s *Server) forward(nc ssh.NewChannel) {
	var req struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, "bad request")
		return
	}
	addr := net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port)))
	s.mu.RLock()
	ep := s.endpoints[addr]
	s.mu.RUnlock()
	if ep == nil {
		_ = nc.Reject(ssh.ConnectionFailed, "no host at "+addr)
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	go s.serve(&channelConn{Channel: ch, addr: addr}, ep)
}

// session answers one exec request: its command with all of its stdin.
func (s *Server) session(nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	started := false
	for req := range reqs {
		if req.Type != "exec" || started {
			if req.Type == "subsystem" {
				s.miss("subsystem " + string(req.Payload))
			}
			_ = req.Reply(false, nil)
			continue
		}
		var cmd struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &cmd); err != nil {
			_ = req.Reply(false, nil)
			continue
		}
		_ = req.Reply(true, nil)
		started = true
		go s.exec(ch, cmd.Command)
	}
}

func (s *Server) exec(ch ssh.Channel, command string) {
	defer func() { _ = ch.Close() }()
	s.sessions.Add(1)
	stdin, err := io.ReadAll(ch)
	if err != nil {
		return
	}
	reply, err := s.answer(command, string(stdin))
	if err != nil {
		s.miss(err.Error())
		reply = Reply{Stderr: []byte("fleet: " + err.Error() + "\n"), Exit: 255}
	}
	_, _ = ch.Write(reply.Stdout)
	_, _ = ch.Stderr().Write(reply.Stderr)
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(reply.Exit)}))
}

func (s *Server) miss(what string) {
	s.misses.Add(1)
	if len(what) > 2000 {
		what = what[:2000] + "…"
	}
	s.lastMiss.Store(what)
}

// Replay answers from book; a request it has no answer for is an error
// (the host fails: the run is not one the book was recorded for).
func Replay(book *Book) Answerer {
	return func(command, stdin string) (Reply, error) {
		if r, ok := book.Answer(command, stdin); ok {
			return r, nil
		}
		return Reply{}, fmt.Errorf("no recorded answer for %q with %d bytes of stdin: %s", command, len(stdin), firstLines(stdin, 12))
	}
}

// Recorder answers by running each session on a real host through client,
// and files every exchange in book.
func Recorder(client *ssh.Client, book *Book) Answerer {
	return func(command, stdin string) (Reply, error) {
		sess, err := client.NewSession()
		if err != nil {
			return Reply{}, err
		}
		defer sess.Close()
		var out, errb bytes.Buffer
		sess.Stdin, sess.Stdout, sess.Stderr = strings.NewReader(stdin), &out, &errb
		r := Reply{}
		if err := sess.Run(command); err != nil {
			var ee *ssh.ExitError
			if !errors.As(err, &ee) {
				return Reply{}, fmt.Errorf("recording on the real host: %w", err)
			}
			r.Exit = ee.ExitStatus()
		}
		r.Stdout, r.Stderr = out.Bytes(), errb.Bytes()
		book.Record(command, stdin, r)
		return r, nil
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// channelConn is a forwarded channel as a net.Conn, for the SSH server
// that serves what arrives on it.
type channelConn struct {
	ssh.Channel
	addr string
}

type pipeAddr string

func (a pipeAddr) Network() string { return "tcp" }
func (a pipeAddr) String() string  { return string(a) }

func (c *channelConn) LocalAddr() net.Addr              { return pipeAddr(c.addr) }
func (c *channelConn) RemoteAddr() net.Addr             { return pipeAddr("bastion") }
func (c *channelConn) SetDeadline(time.Time) error      { return nil }
func (c *channelConn) SetReadDeadline(time.Time) error  { return nil }
func (c *channelConn) SetWriteDeadline(time.Time) error { return nil }

// WriteClientKey writes a fresh ed25519 private key to path (OpenSSH
// format, 0600) and returns its public half.
func WriteClientKey(path string) (ssh.PublicKey, ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "skiff fleet bench")
	if err != nil {
		return nil, nil, err
	}
	_ = os.Remove(path)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return signer.PublicKey(), signer, nil
}

// HostAddr is the loopback address of fake host i (0-based): 127.1.X.Y,
// 250 hosts per X.
func HostAddr(i int, port int) string {
	return net.JoinHostPort(fmt.Sprintf("127.1.%d.%d", i/250, i%250+1), strconv.Itoa(port))
}

// BastionAddr is the bastion's loopback address.
func BastionAddr(port int) string { return net.JoinHostPort("127.2.0.1", strconv.Itoa(port)) }

// FreePort is a port free on the first host address, which the bench then
// uses on all of them.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.1.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
