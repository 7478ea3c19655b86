package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/transport"
	sshtransport "github.com/skiffdeploy/skiff/internal/transport/ssh"
	"github.com/skiffdeploy/skiff/internal/transport/trace"
)

// sshConfigEnv overrides the ssh_config file read (default ~/.ssh/config).
const sshConfigEnv = "SKIFF_SSH_CONFIG"

// reach is how a command reaches hosts: its connection options, the sudo
// password they asked for, and with -vv the trace of what is done there.
type reach struct {
	conn     connOptions
	password string        // read once by --ask-become-pass; never printed
	dial     engine.Dialer // replaces SSH when set (tests)
	trace    *trace.Log    // -vv: what skiff does on each host
}

// newReach reads the sudo password when o asks for it, before any host is
// reached; dial, when set, replaces SSH.
func newReach(c *console, o connOptions, dial engine.Dialer) (*reach, error) {
	r := &reach{conn: o, dial: dial}
	if o.askBecomePass {
		pw, err := readBecomePassword(c)
		if err != nil {
			return nil, err
		}
		r.password = pw
	}
	if o.verbosity >= 2 {
		r.trace = trace.New(c.err)
	}
	return r, nil
}

// dialer opens connections to hosts (SSH, or the tests' dialer); with -vv
// each connection and what is done over it is printed (package trace).
func (r *reach) dialer() engine.Dialer {
	dial := r.dial
	if dial == nil {
		dial = r.sshDialer()
	}
	if r.trace == nil {
		return dial
	}
	log := r.trace
	return func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		via := ""
		if h.Conn.Bastion != "" {
			via = " via " + h.Conn.Bastion
		}
		start := time.Now()
		log.Printf(h.Name, "connect to %s@%s:%d%s (become %t)", h.Conn.User, h.Address, h.Conn.Port, via, h.Conn.Become)
		t, err := dial(ctx, h)
		if err != nil {
			log.Printf(h.Name, "connect failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
			return nil, err
		}
		log.Printf(h.Name, "connected in %s", time.Since(start).Round(time.Millisecond))
		return log.Wrap(h.Name, t), nil
	}
}

// sshDialer opens SSH connections with the host's settings; one host-key
// store is shared by every host of the run, so accept-new appends don't
// race. ~/.ssh/config fills in what the inventory leaves unset (see
// withSSHConfig).
func (r *reach) sshDialer() engine.Dialer {
	keys := sshtransport.NewHostKeyStore()
	sshCfg, sshErr := loadSSHConfig()
	return func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		if sshErr != nil {
			return nil, fmt.Errorf("%s: ssh_config: %w", h.Name, sshErr)
		}
		cfg := sshtransport.Config{
			Host:              h.Name,
			Address:           h.Address,
			Port:              h.Conn.Port,
			User:              h.Conn.User,
			PrivateKey:        h.Conn.PrivateKey,
			KnownHosts:        h.Conn.KnownHosts,
			AcceptNewHostKeys: r.conn.acceptNewKeys,
			HostKeys:          keys,
			Become:            h.Conn.Become,
			SudoPassword:      r.password, // used only when become applies
			Bastion:           h.Conn.Bastion,
			ConnectTimeout:    r.conn.connectTimeout,
		}
		if err := withSSHConfig(&cfg, h, sshCfg); err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		return sshtransport.Dial(ctx, cfg)
	}
}

func loadSSHConfig() (*sshtransport.SSHConfig, error) {
	p := os.Getenv(sshConfigEnv)
	if p == "" {
		p = "~/.ssh/config"
	}
	return sshtransport.LoadSSHConfig(p)
}

// withSSHConfig applies the ssh_config entry matching the host's address or
// name: HostName replaces the address (an alias); User, Port, IdentityFile
// and ProxyJump apply only where the inventory sets no value explicitly.
func withSSHConfig(cfg *sshtransport.Config, h *inventory.Host, sc *sshtransport.SSHConfig) error {
	o, err := sc.Lookup(h.Address, h.Name)
	if err != nil {
		return err
	}
	if o.HostName != "" {
		cfg.Address = o.HostName
	}
	set := h.Explicit
	if set.User == nil && o.User != "" {
		cfg.User = o.User
	}
	if set.Port == nil && o.Port != 0 {
		cfg.Port = o.Port
	}
	if set.PrivateKey == nil && o.IdentityFile != "" {
		cfg.PrivateKey = o.IdentityFile
	}
	if set.Bastion == nil && o.ProxyJump != "" {
		cfg.Bastion = o.ProxyJump
	}
	return nil
}
