package testhosts

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
	"golang.org/x/crypto/ssh"
)

// netPlace says which networks a host joins.
type netPlace int

const (
	onMain     netPlace = iota // the main network only (the default)
	onInternal                 // the internal network only
	onBoth                     // both: a gateway
)

// setupInternal creates the internal network when opts asks for one, and
// removes this machine's address from its bridge, so that the machine has
// no route of its own to it (its packets take the default route, which
// leads nowhere): only the gateways reach its hosts. Nothing outlives the
// network: the bridge goes with it.
func (c *Cluster) setupInternal(ctx context.Context, opts Options, labels map[string]string) error {
	c.onNet = map[string]netPlace{}
	for _, n := range opts.Internal {
		c.onNet[n] = onInternal
	}
	for _, n := range opts.Gateways {
		c.onNet[n] = onBoth
	}
	if len(c.onNet) == 0 {
		return nil
	}
	name := opts.Prefix + "-internal"
	nw, err := c.pool.Client.CreateNetwork(docker.CreateNetworkOptions{
		Name: name, Driver: "bridge", Internal: true, Labels: labels, Context: ctx,
	})
	if err != nil {
		return fmt.Errorf("testhosts: create network %s: %w", name, err)
	}
	if c.internal, err = c.pool.Client.NetworkInfo(nw.ID); err != nil {
		return fmt.Errorf("testhosts: create network %s: %w", name, err)
	}
	bridge := "br-" + nw.ID[:12]
	if out, err := exec.CommandContext(ctx, "ip", "addr", "flush", "dev", bridge).CombinedOutput(); err != nil {
		return fmt.Errorf("testhosts: cut this machine off %s (ip addr flush dev %s): %v: %s", name, bridge, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitSSHInside is waitSSH for a host this machine cannot reach: it waits,
// from inside the container, for the host key and sshd listening.
func (c *Cluster) waitSSHInside(ctx context.Context, h Host) (ssh.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, sshWait)
	defer cancel()
	var last error
	for {
		key, err := c.hostKey(ctx, h)
		if err == nil {
			var out string
			out, _, _, err = c.exec(ctx, h.ContainerID, "ss", "-Hltn", "sport = :22")
			if err == nil && strings.TrimSpace(out) == "" {
				err = errors.New("sshd not listening yet")
			}
			if err == nil {
				return key, nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("testhosts: %s (%s, internal): sshd not ready after %s: %v", h.Name, h.Address, sshWait, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// joinInternal connects a running gateway to the internal network and
// refreshes res.Container with its addresses.
func (c *Cluster) joinInternal(res *dockertest.Resource) error {
	cl := c.pool.Client
	if err := cl.ConnectNetwork(c.internal.ID, docker.NetworkConnectionOptions{Container: res.Container.ID}); err != nil {
		return fmt.Errorf("join %s: %w", c.internal.Name, err)
	}
	ct, err := cl.InspectContainer(res.Container.ID)
	if err != nil {
		return err
	}
	res.Container = ct
	return nil
}
