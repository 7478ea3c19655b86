package plan

import "github.com/skiffdeploy/skiff/internal/transport"

// StatusOf is the host status an error means: unreachable when the
// connection failed, failed otherwise.
func StatusOf(err error) Status {
	if transport.IsUnreachable(err) {
		return StatusUnreachable
	}
	return StatusFailed
}
