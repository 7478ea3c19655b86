package ssh

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// countingBastion is a bastion that counts, as sshd's MaxStartups does,
// the connections open and not yet logged in, and is slow to log in (as a
// busy bastion is), so that connections made at once overlap there.
type countingBastion struct {
	ln                net.Listener
	key               gossh.Signer
	unauth, maxUnauth atomic.Int32
	wg                sync.WaitGroup
}

func newCountingBastion(t *testing.T, client gossh.PublicKey) *countingBastion {
	t.Helper()
	b := &countingBastion{key: newEd25519(t).signer}
	cfg := &gossh.ServerConfig{
		PublicKeyCallback: func(_ gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			time.Sleep(20 * time.Millisecond)
			if bytes.Equal(key.Marshal(), client.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("refused")
		},
	}
	cfg.AddHostKey(b.key)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.ln = ln
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				b.serve(c, cfg)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *countingBastion) serve(c net.Conn, cfg *gossh.ServerConfig) {
	defer c.Close()
	n := b.unauth.Add(1)
	for m := b.maxUnauth.Load(); n > m && !b.maxUnauth.CompareAndSwap(m, n); m = b.maxUnauth.Load() {
	}
	sc, chans, reqs, err := gossh.NewServerConn(c, cfg)
	b.unauth.Add(-1)
	if err != nil {
		return
	}
	defer sc.Close()
	go gossh.DiscardRequests(reqs)
	for nc := range chans {
		var req struct {
			Host       string
			Port       uint32
			OriginHost string
			OriginPort uint32
		}
		if nc.ChannelType() != "direct-tcpip" || gossh.Unmarshal(nc.ExtraData(), &req) != nil {
			nc.Reject(gossh.Prohibited, "forwarding only")
			continue
		}
		target, err := net.Dial("tcp", net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port))))
		if err != nil {
			nc.Reject(gossh.ConnectionFailed, err.Error())
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			target.Close()
			continue
		}
		go gossh.DiscardRequests(creqs)
		go func() { io.Copy(target, ch); target.Close() }()
		go func() { io.Copy(ch, target); ch.Close() }()
	}
}

func (b *countingBastion) addr() string { return b.ln.Addr().String() }

// Many hosts behind one bastion, dialled at once: the bastion never sees
// more connections waiting to log in than sshd's MaxStartups lets through
// (10), and every host is reached.
func TestBastionLoginsPaced(t *testing.T) {
	target := newFixture(t, serverOptions{})
	jump := newCountingBastion(t, target.client.signer.PublicKey())
	f, err := os.OpenFile(target.knownHosts, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(knownHostsLine(jump.addr(), jump.key.PublicKey()))
	f.Close()
	cfg := target.config()
	cfg.Bastion = "root@" + jump.addr()
	cfg.HostKeys = NewHostKeyStore()

	const hosts = 30
	var wg sync.WaitGroup
	errs := make([]error, hosts)
	for i := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := Dial(t.Context(), cfg)
			if err != nil {
				errs[i] = err
				return
			}
			tr.Close()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("host %d: %v", i, err)
		}
	}
	if m := jump.maxUnauth.Load(); m > 10 {
		t.Errorf("the bastion saw %d connections waiting to log in at once, want at most 10 (MaxStartups)", m)
	}
}
