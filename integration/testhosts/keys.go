package testhosts

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// writeClientKey creates a fresh ed25519 key pair and writes the private key
// to path (OpenSSH format, 0600), replacing any earlier one.
func writeClientKey(path, comment string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testhosts: generate client key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("testhosts: encode client key: %w", err)
	}
	// Remove first: WriteFile keeps the mode of an existing file.
	_ = os.Remove(path)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("testhosts: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("testhosts: client key: %w", err)
	}
	return signer, nil
}

// writeKnownHosts writes one "ADDRESS ssh-ed25519 KEY" line per host.
func writeKnownHosts(path string, hosts []Host, keys []ssh.PublicKey) error {
	var b strings.Builder
	for i, h := range hosts {
		b.WriteString(knownhosts.Line([]string{h.Address}, keys[i]))
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("testhosts: %w", err)
	}
	return nil
}

// Dial opens an SSH connection to the host as user with the cluster key,
// verifying the host key against KnownHostsFile, as skiff must.
// known_hosts holds only ed25519 keys, so only that algorithm is offered.
func (c *Cluster) Dial(ctx context.Context, host, user string) (*ssh.Client, error) {
	h, err := c.Host(host)
	if err != nil {
		return nil, err
	}
	check, err := knownhosts.New(c.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("testhosts: %w", err)
	}
	client, err := dialSSH(ctx, h.Address, user, c.signer, check)
	if err != nil {
		return nil, fmt.Errorf("testhosts: ssh %s@%s (%s): %w", user, host, h.Address, err)
	}
	return client, nil
}

// Signer returns the cluster's client key, accepted for root and deploy.
func (c *Cluster) Signer() ssh.Signer { return c.signer }

func dialSSH(ctx context.Context, address, user string, signer ssh.Signer, check ssh.HostKeyCallback) (*ssh.Client, error) {
	const timeout = 5 * time.Second
	addr := net.JoinHostPort(address, "22")
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The handshake gets the same bound as the dial; ctx ends it early too.
	_ = conn.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:              user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   check,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           timeout,
	})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(cc, chans, reqs), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
