package module

import (
	"context"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// HostConns returns the run's connection to another host of the run, by
// its inventory name; an error names a host the run may not change (not
// in the run, so not locked by it). A kind whose change spans hosts (an
// ACME challenge answered by the load balancers while the certificate
// lands on a web server) reaches them with it during Apply.
type HostConns func(ctx context.Context, host string) (transport.Transport, error)

type hostConnsKey struct{}

// WithHostConns returns ctx carrying f, for the Apply of a task.
func WithHostConns(ctx context.Context, f HostConns) context.Context {
	return context.WithValue(ctx, hostConnsKey{}, f)
}

// HostConnsFrom returns the HostConns ctx carries; nil outside a run.
func HostConnsFrom(ctx context.Context) HostConns {
	f, _ := ctx.Value(hostConnsKey{}).(HostConns)
	return f
}
