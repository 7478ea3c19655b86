package testhosts

import (
	"context"
	"fmt"
	"time"

	"github.com/ory/dockertest/v3/docker"
)

// Restart starts a host stopped by Stop again (its systemd boots as after
// a power cut) at its address, and waits until its sshd answers.
func (c *Cluster) Restart(ctx context.Context, host string) error {
	h, err := c.Host(host)
	if err != nil {
		return err
	}
	cl := c.pool.Client
	if err := cl.StartContainerWithContext(h.ContainerID, nil, ctx); err != nil {
		return fmt.Errorf("testhosts: restart %s: %w", host, err)
	}
	insp, err := cl.InspectContainer(h.ContainerID)
	if err != nil {
		return fmt.Errorf("testhosts: restart %s: %w", host, err)
	}
	// Docker may hand the container another address on start: put it
	// back at its own, which the inventory names.
	if ep, ok := insp.NetworkSettings.Networks[c.network.Name]; !ok || ep.IPAddress != h.Address {
		if ok {
			if err := cl.DisconnectNetwork(c.network.ID, docker.NetworkConnectionOptions{Container: h.ContainerID, Force: true}); err != nil {
				return fmt.Errorf("testhosts: restart %s: %w", host, err)
			}
		}
		if err := cl.ConnectNetwork(c.network.ID, docker.NetworkConnectionOptions{
			Container:      h.ContainerID,
			EndpointConfig: &docker.EndpointConfig{IPAMConfig: &docker.EndpointIPAMConfig{IPv4Address: h.Address}},
		}); err != nil {
			return fmt.Errorf("testhosts: restart %s at %s: %w", host, h.Address, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := c.waitSSH(ctx, h); err != nil {
		return fmt.Errorf("testhosts: restart %s: %w", host, err)
	}
	return nil
}
