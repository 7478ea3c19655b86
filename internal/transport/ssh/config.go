// Package ssh is skiff's SSH transport: one connection per host for a whole
// run, sessions multiplexed on it, host keys checked against an OpenSSH
// known_hosts file, keys from a file or ssh-agent, an optional jump host, and
// SFTP for file transfer (through sudo when become is set).
package ssh

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config says how to reach one host. Zero values take the documented defaults.
type Config struct {
	Host       string // inventory name, used in errors (default: Address)
	Address    string // IP or DNS name
	Port       int    // default 22
	User       string // required
	PrivateKey string // key file path ("~/" expanded); "" = ssh-agent only. Both are tried when both are available.
	// AgentSocket is the ssh-agent socket; "" = $SSH_AUTH_SOCK at Dial time.
	AgentSocket string
	// KnownHosts is the OpenSSH known_hosts file ("~/" expanded). Required:
	// skiff never accepts a host key it cannot check.
	KnownHosts string
	// AcceptNewHostKeys is OpenSSH's StrictHostKeyChecking=accept-new: an
	// unknown key is recorded in KnownHosts; a changed key is still refused.
	AcceptNewHostKeys bool
	// HostKeys serialises known_hosts reads and appends. Share one store
	// between all the Dials of a run; nil gives this Dial a store of its own.
	HostKeys *HostKeyStore
	Become   bool // run as root through `sudo -n` when User is not root
	// SudoPassword, when set, is typed to sudo on stdin (`sudo -S`) instead
	// of running `sudo -n`. It never appears in an error or a log.
	SudoPassword string
	Bastion      string // optional jump host "user@host:port"; user defaults to User, port to 22
	// ConnectTimeout bounds TCP connect plus SSH handshake, per hop. Default 10s.
	ConnectTimeout time.Duration
	// KeepAlive is the keepalive interval; a host that misses 3 in a row is
	// declared lost. Default 15s; negative disables keepalives.
	KeepAlive time.Duration
	// MaxSessions bounds the concurrent sessions on the connection, the SFTP
	// session (held once opened) included. Default 8 (sshd allows 10);
	// values below 2 are raised to 2 so that SFTP never starves Run.
	MaxSessions int
	// SFTPServerPaths are the sftp-server binaries tried, in order, when
	// SFTP must run through sudo. Default: the Debian, RHEL and Alpine paths.
	SFTPServerPaths []string
}

const (
	defaultPort           = 22
	defaultConnectTimeout = 10 * time.Second
	defaultKeepAlive      = 15 * time.Second
	defaultMaxSessions    = 8
	minMaxSessions        = 2
	keepAliveMisses       = 3
)

// defaultSFTPServerPaths is a function, not a package variable, so that no
// caller can mutate the defaults of another.
func defaultSFTPServerPaths() []string {
	return []string{
		"/usr/lib/openssh/sftp-server",     // Debian, Ubuntu
		"/usr/libexec/openssh/sftp-server", // RHEL, Fedora
		"/usr/lib/ssh/sftp-server",         // Arch, Alpine
		"/usr/lib/sftp-server",
	}
}

// withDefaults validates c and fills in defaults. It is called once by Dial.
func (c Config) withDefaults() (Config, error) {
	if c.Address == "" {
		return c, fmt.Errorf("%s: ssh: no address", c.Host)
	}
	if c.Host == "" {
		c.Host = c.Address
	}
	if c.User == "" {
		return c, fmt.Errorf("%s: ssh: no user", c.Host)
	}
	if c.KnownHosts == "" {
		return c, fmt.Errorf("%s: ssh: no known_hosts file: skiff never trusts a host key it cannot check", c.Host)
	}
	if strings.ContainsAny(c.SudoPassword, "\r\n") {
		return c, fmt.Errorf("%s: ssh: the sudo password contains a line break", c.Host)
	}
	if c.Port == 0 {
		c.Port = defaultPort
	}
	if c.Port < 0 || c.Port > 65535 {
		return c, fmt.Errorf("%s: ssh: invalid port %d", c.Host, c.Port)
	}
	var err error
	if c.KnownHosts, err = expandHome(c.KnownHosts); err != nil {
		return c, fmt.Errorf("%s: ssh: known_hosts: %w", c.Host, err)
	}
	if c.PrivateKey, err = expandHome(c.PrivateKey); err != nil {
		return c, fmt.Errorf("%s: ssh: private key: %w", c.Host, err)
	}
	if c.AgentSocket == "" {
		c.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	if c.HostKeys == nil {
		c.HostKeys = NewHostKeyStore()
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = defaultKeepAlive
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = defaultMaxSessions
	} else if c.MaxSessions < minMaxSessions {
		c.MaxSessions = minMaxSessions
	}
	if len(c.SFTPServerPaths) == 0 {
		c.SFTPServerPaths = defaultSFTPServerPaths()
	}
	if c.Bastion != "" {
		if _, err := parseEndpoint(c.Bastion, c.User); err != nil {
			return c, fmt.Errorf("%s: ssh: bastion %q: %w", c.Host, c.Bastion, err)
		}
	}
	return c, nil
}

// become reports whether commands must go through sudo.
func (c Config) become() bool { return c.Become && c.User != "root" }

// target is the host itself as an SSH endpoint.
func (c Config) target() endpoint {
	return endpoint{user: c.User, host: c.Address, port: c.Port}
}

// endpoint is one SSH server to log in to: the host or its bastion.
type endpoint struct {
	user string
	host string
	port int
}

// addr is "host:port", the form given to net.Dial and to known_hosts lookups.
func (e endpoint) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// parseEndpoint parses "[user@]host[:port]" (IPv6 in brackets).
func parseEndpoint(spec, defaultUser string) (endpoint, error) {
	e := endpoint{user: defaultUser, port: defaultPort}
	rest := spec
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		e.user, rest = rest[:i], rest[i+1:]
		if e.user == "" {
			return e, fmt.Errorf("empty user")
		}
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		// No port: the whole rest is the host, IPv6 possibly bracketed.
		host = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
	} else {
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return e, fmt.Errorf("invalid port %q", port)
		}
		e.port = p
	}
	if host == "" {
		return e, fmt.Errorf("empty host")
	}
	e.host = host
	return e, nil
}

// expandHome expands a leading "~/" to the user's home directory.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}
