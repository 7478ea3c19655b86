package shell

import (
	"context"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// Run runs script on t for a kind's Apply: an error of the transport
// comes back as it is, a non-zero exit as a *RunError naming what, its
// output scrubbed of secrets (see NewRunError).
func Run(ctx context.Context, t transport.Transport, what, script string, secrets []string) error {
	_, err := Output(ctx, t, what, script, secrets)
	return err
}

// Output is Run that also returns what the script printed, for kinds
// that read it or tell exit codes apart (errors.As finds the *RunError).
func Output(ctx context.Context, t transport.Transport, what, script string, secrets []string) (transport.Result, error) {
	res, err := t.Run(ctx, script)
	if err != nil {
		return res, err
	}
	if res.ExitCode != 0 {
		return res, NewRunError(what, res, secrets)
	}
	return res, nil
}
