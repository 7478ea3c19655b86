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

// dialer opens connections to hosts (SSH, or the tests' dialer); with -vv
// each connection and what is done over it is printed (package trace).
func (g *globals) dialer() engine.Dialer {
	dial := g.dial
	if dial == nil {
		dial = g.sshDialer()
	}
	if g.verbosity < 2 {
		return dial
	}
	if g.trace == nil {
		g.trace = trace.New(g.stderr)
	}
	log := g.trace
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
func (g *globals) sshDialer() engine.Dialer {
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
			AcceptNewHostKeys: g.acceptNewKeys,
			HostKeys:          keys,
			Become:            h.Conn.Become,
			SudoPassword:      g.becomePass, // used only when become applies
			Bastion:           h.Conn.Bastion,
			ConnectTimeout:    g.connectTimeout,
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
