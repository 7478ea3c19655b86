// Package testhosts runs real Debian test hosts for integration tests and the
// demo: Docker containers with systemd as PID 1, sshd, sudo and a user
// "deploy", on a private Docker network, reachable from this machine by
// their own addresses. The image comes from integration/testhost/build-image.sh.
package testhosts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
	"golang.org/x/crypto/ssh"
)

const (
	// labelPrefix marks every container and network of a cluster with its
	// prefix, so Close, Down and a later Start find them exactly.
	labelPrefix = "skiff.testhosts.prefix"
	// labelOwner holds the pid of the process that will remove the cluster;
	// once that process is gone, any Start reaps what it left behind.
	labelOwner = "skiff.testhosts.owner"

	// sshWait bounds the wait for one host's sshd after its container starts.
	sshWait = 60 * time.Second
)

// bootParallel is how many hosts boot at once. Each boot is a burst of
// work (systemd, ssh-keygen -A making RSA, ECDSA and ed25519 keys): dozens
// at once on a small machine slow every one of them past sshWait.
func bootParallel() int { return max(4, 2*runtime.NumCPU()) }

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Options describes a cluster to start.
type Options struct {
	// Prefix names the containers "<Prefix>-<host>" and the network
	// "<Prefix>-net". It must be unique per test run (see UniquePrefix);
	// whatever an earlier run left under the same prefix is removed first.
	Prefix string
	// Hosts are the inventory hosts, in order.
	Hosts []string
	// Clients are extra hosts that are not in the inventory, e.g. an outside
	// client for firewall tests. They get the same key and known_hosts lines.
	Clients []string
	// Dir receives id_ed25519 (the client key) and known_hosts. Created if missing.
	Dir string
	// Keep leaves the containers to outlive this process (the demo); without
	// it, a later Start removes them once this process has exited, in case
	// Close never ran.
	Keep bool
	// Logf, if set, receives progress lines (e.g. testing.T.Logf).
	Logf func(format string, args ...any)
	// Internal names hosts (of Hosts) that sit only on a second network,
	// "<Prefix>-internal", which this machine cannot reach: tests reach
	// them through a host of Gateways (a bastion). Their Address is on it.
	Internal []string
	// Gateways names hosts on both networks: Address stays on the main
	// network, InternalAddress is on the internal one.
	Gateways []string
	// Suite is the Debian release every host runs: Bookworm (also when
	// empty) or Trixie.
	Suite string
}

// Host is one running test host.
type Host struct {
	Name string
	// Address is the container's IP on the cluster's private network.
	Address     string
	ContainerID string
	// InternalAddress is the host's IP on the internal network, if it is on
	// it (Options.Internal and Options.Gateways).
	InternalAddress string
}

// Cluster is a set of running test hosts. Close removes them.
type Cluster struct {
	Prefix string
	Image  string
	// Hosts are the inventory hosts, in Options.Hosts order.
	Hosts []Host
	// Clients are the hosts of Options.Clients.
	Clients []Host
	// KeyFile is the client private key (OpenSSH format, 0600), accepted for
	// root and deploy on every host.
	KeyFile string
	// KnownHostsFile holds "ADDRESS ssh-ed25519 KEY" for every host.
	KnownHostsFile string

	signer   ssh.Signer
	pool     *dockertest.Pool
	network  *docker.Network
	internal *docker.Network // nil without Options.Internal/Gateways
	onNet    map[string]netPlace
	logf     func(format string, args ...any)
}

// UniquePrefix returns base plus a random suffix, a valid Options.Prefix.
// Characters Docker refuses in names (e.g. the "/" of subtest names) become "-".
func UniquePrefix(base string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, base)
	clean = strings.Trim(clean, "-")
	if len(clean) > 30 {
		clean = clean[:30]
	}
	if clean == "" {
		clean = "skiff"
	}
	return clean + "-" + randomHex(3)
}

func (o *Options) validate() error {
	if !namePattern.MatchString(o.Prefix) {
		return fmt.Errorf("testhosts: prefix %q: want lower-case letters, digits and '-'", o.Prefix)
	}
	if o.Dir == "" {
		return errors.New("testhosts: Options.Dir is empty")
	}
	if len(o.Hosts)+len(o.Clients) == 0 {
		return errors.New("testhosts: no hosts")
	}
	inHosts := map[string]bool{}
	for _, name := range o.Hosts {
		inHosts[name] = true
	}
	for _, name := range append(append([]string{}, o.Internal...), o.Gateways...) {
		if !inHosts[name] {
			return fmt.Errorf("testhosts: Internal/Gateways name %q, not one of Hosts", name)
		}
	}
	seen := map[string]bool{}
	for _, name := range append(append([]string{}, o.Hosts...), o.Clients...) {
		if !namePattern.MatchString(name) {
			return fmt.Errorf("testhosts: host name %q: want lower-case letters, digits and '-'", name)
		}
		if seen[name] {
			return fmt.Errorf("testhosts: host %q given twice", name)
		}
		seen[name] = true
	}
	return nil
}

// Start builds the image if needed, then starts one container per host and
// client on a new private network, and returns once every host's sshd
// accepts the cluster key as root and deploy. On error nothing is left
// running.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}

	began := time.Now()
	image, err := EnsureImage(ctx, opts.Suite)
	if err != nil {
		return nil, err
	}
	logf("testhosts: image %s ready after %s", image, since(began))

	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, fmt.Errorf("testhosts: docker: %w", err)
	}
	if err := pool.Client.PingWithContext(ctx); err != nil {
		return nil, fmt.Errorf("testhosts: docker engine not reachable: %w", err)
	}
	if err := reapOrphans(ctx, pool.Client); err != nil {
		return nil, err
	}
	if err := removeByPrefix(ctx, pool.Client, opts.Prefix); err != nil {
		return nil, err
	}

	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("testhosts: %w", err)
	}
	c := &Cluster{
		Prefix:         opts.Prefix,
		Image:          image,
		KeyFile:        filepath.Join(dir, "id_ed25519"),
		KnownHostsFile: filepath.Join(dir, "known_hosts"),
		pool:           pool,
		logf:           logf,
	}
	if c.signer, err = writeClientKey(c.KeyFile, "skiff-testhosts@"+opts.Prefix); err != nil {
		return nil, err
	}

	labels := map[string]string{labelPrefix: opts.Prefix}
	if !opts.Keep {
		labels[labelOwner] = strconv.Itoa(os.Getpid())
	}
	if c.network, err = createNetwork(ctx, pool.Client, opts.Prefix+"-net", labels); err != nil {
		_ = c.Close()
		return nil, err
	}
	if err := c.setupInternal(ctx, opts, labels); err != nil {
		_ = c.Close()
		return nil, err
	}

	names := append(append([]string{}, opts.Hosts...), opts.Clients...)
	hosts := make([]Host, len(names))
	keys := make([]ssh.PublicKey, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	slots := make(chan struct{}, bootParallel())
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			hosts[i], keys[i], errs[i] = c.boot(ctx, name, labels)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = c.Close()
		return nil, err
	}
	c.Hosts = hosts[:len(opts.Hosts)]
	c.Clients = hosts[len(opts.Hosts):]

	if err := writeKnownHosts(c.KnownHostsFile, hosts, keys); err != nil {
		_ = c.Close()
		return nil, err
	}
	logf("testhosts: %d hosts answering SSH after %s", len(hosts), since(began))
	return c, nil
}

// boot runs the container of one host, installs the client key and waits
// until sshd accepts it. It returns the host and its ed25519 host key.
func (c *Cluster) boot(ctx context.Context, name string, labels map[string]string) (Host, ssh.PublicKey, error) {
	repo, tag, _ := strings.Cut(c.Image, ":")
	began := time.Now()
	// Each goroutine gets its own Network values: RunWithOptions rewrites them.
	place := c.onNet[name]
	var nets []*dockertest.Network
	if place != onInternal {
		nets = append(nets, &dockertest.Network{Network: &docker.Network{ID: c.network.ID, Name: c.network.Name}})
	}
	if place == onInternal {
		nets = append(nets, &dockertest.Network{Network: &docker.Network{ID: c.internal.ID, Name: c.internal.Name}})
	}
	res, err := c.pool.RunWithOptions(&dockertest.RunOptions{
		Repository:  repo,
		Tag:         tag,
		Name:        c.Prefix + "-" + name,
		Hostname:    name,
		Cmd:         []string{"/sbin/init"},
		CapAdd:      []string{"SYS_ADMIN", "NET_ADMIN"},
		SecurityOpt: []string{"seccomp=unconfined"},
		Mounts:      []string{"/sys/fs/cgroup:/sys/fs/cgroup:rw"},
		Networks:    nets,
		Labels:      labels,
	}, func(hc *docker.HostConfig) {
		hc.Tmpfs = map[string]string{"/run": "", "/run/lock": ""}
		// No ports on the machine's interfaces: hosts are reached by address.
		hc.PublishAllPorts = false
	})
	if err != nil {
		return Host{}, nil, fmt.Errorf("testhosts: start %s: %w", name, err)
	}
	h := Host{Name: name, ContainerID: res.Container.ID}
	if place == onBoth {
		// Docker joins one network at creation: the second comes after.
		if err := c.joinInternal(res); err != nil {
			return h, nil, fmt.Errorf("testhosts: %s: %w", name, err)
		}
	}
	if ep, ok := res.Container.NetworkSettings.Networks[c.network.Name]; ok && place != onInternal {
		h.Address = ep.IPAddress
	}
	if c.internal != nil {
		if ep, ok := res.Container.NetworkSettings.Networks[c.internal.Name]; ok && place != onMain {
			h.InternalAddress = ep.IPAddress
			if place == onInternal {
				h.Address = ep.IPAddress
			}
		}
	}
	if h.Address == "" || (place != onMain && h.InternalAddress == "") {
		return h, nil, fmt.Errorf("testhosts: %s has no address on its networks", name)
	}

	if err := c.authorize(ctx, h); err != nil {
		return h, nil, err
	}
	wait := c.waitSSH
	if place == onInternal {
		wait = c.waitSSHInside // this machine cannot reach it
	}
	key, err := wait(ctx, h)
	if err != nil {
		return h, nil, err
	}
	c.logf("testhosts: %s (%s) up in %s", name, h.Address, since(began))
	return h, key, nil
}

// authorize installs the cluster's public key for root and deploy.
func (c *Cluster) authorize(ctx context.Context, h Host) error {
	const script = `set -e
install -d -m 0700 -o root -g root /root/.ssh
printf '%s\n' "$1" >/root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
printf '%s\n' "$1" >/home/deploy/.ssh/authorized_keys
chown deploy:deploy /home/deploy/.ssh/authorized_keys
chmod 0600 /home/deploy/.ssh/authorized_keys`
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(c.signer.PublicKey())))
	_, stderr, code, err := c.exec(ctx, h.ContainerID, "sh", "-c", script, "sh", pub)
	if err != nil {
		return fmt.Errorf("testhosts: %s: install client key: %w", h.Name, err)
	}
	if code != 0 {
		return fmt.Errorf("testhosts: %s: install client key: exit %d: %s", h.Name, code, strings.TrimSpace(stderr))
	}
	return nil
}

// waitSSH polls until the host has its ed25519 host key and sshd accepts the
// client key for deploy while presenting that host key.
func (c *Cluster) waitSSH(ctx context.Context, h Host) (ssh.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, sshWait)
	defer cancel()
	delay := 100 * time.Millisecond
	var last error
	for {
		key, err := c.hostKey(ctx, h)
		if err == nil {
			var client *ssh.Client
			client, err = dialSSH(ctx, h.Address, "deploy", c.signer, ssh.FixedHostKey(key))
			if err == nil {
				_ = client.Close()
				return key, nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			diag, _, _, _ := c.exec(context.Background(), h.ContainerID, "sh", "-c",
				"systemctl is-system-running; systemctl --no-pager status ssh ssh-hostkeys; journalctl -b --no-pager -n 30")
			return nil, fmt.Errorf("testhosts: %s (%s): sshd not ready after %s: %v\n%s", h.Name, h.Address, sshWait, last, diag)
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// hostKey reads the host's ed25519 public host key, generated at its boot.
func (c *Cluster) hostKey(ctx context.Context, h Host) (ssh.PublicKey, error) {
	out, _, code, err := c.exec(ctx, h.ContainerID, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, errors.New("no ed25519 host key yet")
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	return key, nil
}

// Host returns the host or client called name.
func (c *Cluster) Host(name string) (Host, error) {
	for _, h := range c.Hosts {
		if h.Name == name {
			return h, nil
		}
	}
	for _, h := range c.Clients {
		if h.Name == name {
			return h, nil
		}
	}
	return Host{}, fmt.Errorf("testhosts: no host %q in cluster %s", name, c.Prefix)
}

// Close removes the cluster's containers and network. It is safe to call
// more than once and after a failed Start.
func (c *Cluster) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return removeByPrefix(ctx, c.pool.Client, c.Prefix)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }
