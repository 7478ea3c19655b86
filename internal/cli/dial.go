package cli

import (
	"context"

	"skiff/internal/engine"
	"skiff/internal/inventory"
	"skiff/internal/transport"
	sshtransport "skiff/internal/transport/ssh"
)

// dialer opens SSH connections with the host's settings; one host-key store
// is shared by every host of the run, so accept-new appends don't race.
func (g *globals) dialer() engine.Dialer {
	keys := sshtransport.NewHostKeyStore()
	return func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		return sshtransport.Dial(ctx, sshtransport.Config{
			Host:              h.Name,
			Address:           h.Address,
			Port:              h.Conn.Port,
			User:              h.Conn.User,
			PrivateKey:        h.Conn.PrivateKey,
			KnownHosts:        h.Conn.KnownHosts,
			AcceptNewHostKeys: g.acceptNewKeys,
			HostKeys:          keys,
			Become:            h.Conn.Become,
			Bastion:           h.Conn.Bastion,
			ConnectTimeout:    g.connectTimeout,
		})
	}
}
