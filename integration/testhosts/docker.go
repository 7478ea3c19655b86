package testhosts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
)

// Exec runs cmd (an argv, no shell unless you pass "sh", "-c", …) as root in
// the host's container, beside SSH, for test setup and assertions. err is
// for failures to run it at all; a command that fails gives its exitCode.
func (c *Cluster) Exec(ctx context.Context, host string, cmd ...string) (stdout string, exitCode int, err error) {
	stdout, _, exitCode, err = c.ExecOutput(ctx, host, cmd...)
	return stdout, exitCode, err
}

// ExecOutput is Exec that also returns the command's stderr.
func (c *Cluster) ExecOutput(ctx context.Context, host string, cmd ...string) (stdout, stderr string, exitCode int, err error) {
	h, err := c.Host(host)
	if err != nil {
		return "", "", -1, err
	}
	stdout, stderr, exitCode, err = c.exec(ctx, h.ContainerID, cmd...)
	if err != nil {
		return stdout, stderr, exitCode, fmt.Errorf("testhosts: exec on %s: %w", host, err)
	}
	return stdout, stderr, exitCode, nil
}

func (c *Cluster) exec(ctx context.Context, containerID string, cmd ...string) (stdout, stderr string, exitCode int, err error) {
	cl := c.pool.Client
	ex, err := cl.CreateExec(docker.CreateExecOptions{
		Container:    containerID,
		Cmd:          cmd,
		AttachStdout: true,
		AttachStderr: true,
		Context:      ctx,
	})
	if err != nil {
		return "", "", -1, err
	}
	var out, errOut bytes.Buffer
	if err := cl.StartExec(ex.ID, docker.StartExecOptions{OutputStream: &out, ErrorStream: &errOut, Context: ctx}); err != nil {
		return out.String(), errOut.String(), -1, err
	}
	// The streams close as the process ends; the engine may record the exit
	// code a moment later.
	for i := 0; ; i++ {
		insp, err := cl.InspectExec(ex.ID)
		if err != nil {
			return out.String(), errOut.String(), -1, err
		}
		if !insp.Running {
			return out.String(), errOut.String(), insp.ExitCode, nil
		}
		if i == 50 {
			return out.String(), errOut.String(), -1, errors.New("exec still running after its output closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the host's container at once, like a power cut: a lost host.
// Its address stays reserved until Close.
func (c *Cluster) Stop(host string) error {
	return c.containerOp(host, "stop", func(cl *docker.Client, h Host) error {
		return cl.KillContainer(docker.KillContainerOptions{ID: h.ContainerID, Signal: docker.SIGKILL})
	})
}

// Pause freezes every process of the host: connections hang instead of
// failing, like an overloaded or half-dead server.
func (c *Cluster) Pause(host string) error {
	return c.containerOp(host, "pause", func(cl *docker.Client, h Host) error {
		return cl.PauseContainer(h.ContainerID)
	})
}

// Unpause resumes a paused host.
func (c *Cluster) Unpause(host string) error {
	return c.containerOp(host, "unpause", func(cl *docker.Client, h Host) error {
		return cl.UnpauseContainer(h.ContainerID)
	})
}

// Disconnect removes the host from the private network: a partition. The
// host keeps running; Reconnect brings it back with the same address.
func (c *Cluster) Disconnect(host string) error {
	return c.containerOp(host, "disconnect", func(cl *docker.Client, h Host) error {
		return cl.DisconnectNetwork(c.network.ID, docker.NetworkConnectionOptions{Container: h.ContainerID, Force: true})
	})
}

// Reconnect puts a disconnected host back on the network at its address.
func (c *Cluster) Reconnect(host string) error {
	return c.containerOp(host, "reconnect", func(cl *docker.Client, h Host) error {
		return cl.ConnectNetwork(c.network.ID, docker.NetworkConnectionOptions{
			Container: h.ContainerID,
			EndpointConfig: &docker.EndpointConfig{
				IPAMConfig: &docker.EndpointIPAMConfig{IPv4Address: h.Address},
			},
		})
	})
}

func (c *Cluster) containerOp(host, what string, op func(*docker.Client, Host) error) error {
	h, err := c.Host(host)
	if err != nil {
		return err
	}
	if err := op(c.pool.Client, h); err != nil {
		return fmt.Errorf("testhosts: %s %s: %w", what, host, err)
	}
	return nil
}

// Down removes the containers and network of the cluster started with
// prefix, e.g. by an earlier process with Options.Keep. Nothing to remove is
// not an error.
func Down(ctx context.Context, prefix string) error {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return fmt.Errorf("testhosts: docker: %w", err)
	}
	return removeByPrefix(ctx, pool.Client, prefix)
}

// createNetwork creates a bridge network on a subnet Docker picks (so it
// clashes with no route or network of the machine) and then pins that
// subnet: only a user-configured subnet lets Reconnect restore an address.
func createNetwork(ctx context.Context, cl *docker.Client, name string, labels map[string]string) (*docker.Network, error) {
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		probe, err := cl.CreateNetwork(docker.CreateNetworkOptions{Name: name, Driver: "bridge", Labels: labels, Context: ctx})
		if err != nil {
			return nil, fmt.Errorf("testhosts: create network %s: %w", name, err)
		}
		info, err := cl.NetworkInfo(probe.ID)
		if rmErr := cl.RemoveNetwork(probe.ID); rmErr != nil && err == nil {
			err = rmErr
		}
		if err != nil {
			return nil, fmt.Errorf("testhosts: create network %s: %w", name, err)
		}
		if len(info.IPAM.Config) == 0 || info.IPAM.Config[0].Subnet == "" {
			return nil, fmt.Errorf("testhosts: create network %s: docker assigned no subnet", name)
		}
		nw, err := cl.CreateNetwork(docker.CreateNetworkOptions{
			Name:    name,
			Driver:  "bridge",
			Labels:  labels,
			Context: ctx,
			IPAM: &docker.IPAMOptions{
				Driver: "default",
				Config: []docker.IPAMConfig{{Subnet: info.IPAM.Config[0].Subnet, Gateway: info.IPAM.Config[0].Gateway}},
			},
		})
		if err == nil {
			return cl.NetworkInfo(nw.ID)
		}
		// Another run took the subnet between the two creates: try again.
		last = err
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	return nil, fmt.Errorf("testhosts: create network %s: %w", name, last)
}

// removeByPrefix force-removes every container, then every network, that
// carries the prefix label.
func removeByPrefix(ctx context.Context, cl *docker.Client, prefix string) error {
	label := labelPrefix + "=" + prefix
	containers, err := cl.ListContainers(docker.ListContainersOptions{
		All:     true,
		Filters: map[string][]string{"label": {label}},
		Context: ctx,
	})
	if err != nil {
		return fmt.Errorf("testhosts: list containers of %s: %w", prefix, err)
	}
	var errs []error
	for _, ct := range containers {
		err := cl.RemoveContainer(docker.RemoveContainerOptions{ID: ct.ID, Force: true, RemoveVolumes: true, Context: ctx})
		var gone *docker.NoSuchContainer
		if err != nil && !errors.As(err, &gone) {
			errs = append(errs, fmt.Errorf("testhosts: remove container %s: %w", strings.Join(ct.Names, ","), err))
		}
	}
	networks, err := cl.FilteredListNetworks(docker.NetworkFilterOpts{"label": {label: true}})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("testhosts: list networks of %s: %w", prefix, err))...)
	}
	for _, nw := range networks {
		err := cl.RemoveNetwork(nw.ID)
		var gone *docker.NoSuchNetwork
		if err != nil && !errors.As(err, &gone) {
			errs = append(errs, fmt.Errorf("testhosts: remove network %s: %w", nw.Name, err))
		}
	}
	return errors.Join(errs...)
}

// reapOrphans removes the clusters whose owner process has exited without
// calling Close (a killed or timed-out test binary).
func reapOrphans(ctx context.Context, cl *docker.Client) error {
	prefixes := map[string]bool{}
	orphan := func(labels map[string]string) {
		pid, err := strconv.Atoi(labels[labelOwner])
		if err != nil || pid <= 0 || labels[labelPrefix] == "" {
			return
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			prefixes[labels[labelPrefix]] = true
		}
	}
	containers, err := cl.ListContainers(docker.ListContainersOptions{
		All:     true,
		Filters: map[string][]string{"label": {labelOwner}},
		Context: ctx,
	})
	if err != nil {
		return fmt.Errorf("testhosts: list containers: %w", err)
	}
	for _, ct := range containers {
		orphan(ct.Labels)
	}
	networks, err := cl.FilteredListNetworks(docker.NetworkFilterOpts{"label": {labelOwner: true}})
	if err != nil {
		return fmt.Errorf("testhosts: list networks: %w", err)
	}
	for _, nw := range networks {
		orphan(nw.Labels)
	}
	var errs []error
	for prefix := range prefixes {
		errs = append(errs, removeByPrefix(ctx, cl, prefix))
	}
	return errors.Join(errs...)
}

// Gateway is the machine's own address on the cluster's network: a server
// the test runs on it (listening on all addresses) is reachable from the hosts.
func (c *Cluster) Gateway() string {
	if c.network == nil || len(c.network.IPAM.Config) == 0 {
		return ""
	}
	return c.network.IPAM.Config[0].Gateway
}
