// Package haproxy is the "haproxy_server" task kind: the administrative
// state of one server of an HAProxy backend, set through HAProxy's runtime
// API (the stats socket, at level admin), with a wait for its effect.
//
//	task "haproxy_server" "drain" {
//	  socket   = "/run/haproxy/admin.sock"  # the default
//	  backend  = "web_tls"
//	  server   = host.name
//	  state    = "drain"                    # "ready", "drain" or "maint"
//	  wait     = true                       # the default
//	  timeout  = "60s"                      # the default
//	  delegate_to = …                       # the engine's: run on the lb hosts
//	}
//
// The scripts talk to the socket from the host with socat, else nc -U
// (netcat-openbsd), else python3. The state compared is the one `set server
// … state` controls (the forced maint and drain flags of srv_admin_state):
// a server kept in maintenance by a tracked server or a DNS failure is not
// changed by a "ready", so it is not reported as a change either.
//
// Check reports a change when that state differs from state, and, when
// HAProxy is not running (no socket, or nothing answers it: a fresh host
// whose haproxy an earlier task installs), a change noted "(haproxy not
// running yet)". A backend or server that HAProxy does not know is an error.
//
// Apply sets the state even when Check found nothing to do (the engine may
// run the task anyway), then, with wait, polls every 100ms in one remote
// script: after "drain", until the server has no current session (scur 0)
// or the timeout passes, which ends the wait without an error; after
// "ready", until show stat reports it UP, or fails at the timeout with its
// status and last health check. "maint" does not wait. The timeout counts
// in whole seconds (rounded up), measured on the host.
//
// Changes can be undone (module.Reversible): backup records the server's
// previous state on the host, and undo sets it back, without waiting. Undo
// does nothing when no state was recorded (HAProxy was not running), when
// HAProxy no longer runs (a restarted HAProxy starts from its config
// anyway) or when the server is gone.
package haproxy

import (
	"context"
	"fmt"
	"math"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// DefaultSocket is where Debian's haproxy package (and the haproxy role)
// puts the admin socket.
const DefaultSocket = "/run/haproxy/admin.sock"

// Server is one "haproxy_server" task.
type Server struct {
	socket, backend, server string
	state                   string // ready, drain or maint
	wait                    bool
	timeout                 time.Duration
	timeoutText             string // as written, for messages
}

var (
	_ module.Module     = (*Server)(nil)
	_ module.Reversible = (*Server)(nil)
)

// ident is what HAProxy accepts in proxy and server names; it also keeps
// the runtime API command (where ";" separates commands) to one command.
var ident = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// New is the module.Factory of the "haproxy_server" kind.
func New(a *module.Args) module.Module {
	s := &Server{
		socket:  a.StringDefault("socket", DefaultSocket),
		backend: a.String("backend", true),
		server:  a.String("server", true),
		wait:    a.Bool("wait", true),
	}
	if a.Has("state") {
		s.state = a.OneOf("state", "", "ready", "drain", "maint")
	} else {
		a.String("state", true) // the "missing required argument" diagnostic
	}
	a.RejectSensitive("socket", "backend", "server", "state")
	if !a.Unknown("socket") && (!strings.HasPrefix(s.socket, "/") || strings.ContainsAny(s.socket, "\n\r\x00")) {
		a.Errorf("socket", "socket must be the absolute path of HAProxy's stats socket, not %q.", s.socket)
	}
	for _, n := range []struct{ arg, v string }{{"backend", s.backend}, {"server", s.server}} {
		if a.Has(n.arg) && !a.Unknown(n.arg) && !ident.MatchString(n.v) {
			a.Errorf(n.arg, "%q is not an HAProxy %s name (letters, digits, '.', ':', '_' and '-').", n.v, n.arg)
		}
	}
	s.timeoutText = a.StringDefault("timeout", "60s")
	if s.timeoutText == "" && a.Unknown("timeout") {
		s.timeoutText = "60s"
	}
	d, err := time.ParseDuration(s.timeoutText)
	if err != nil || d <= 0 {
		a.Errorf("timeout", "timeout must be a positive duration such as \"30s\" or \"2m\", not %q.", s.timeoutText)
		d = time.Minute
	}
	s.timeout = d
	return s
}

// valid reports whether the names are usable in a script (they are not when
// unknown, in `skiff validate`, or invalid, which New reported).
func (s *Server) valid() bool {
	return ident.MatchString(s.backend) && ident.MatchString(s.server) && s.state != "" && strings.HasPrefix(s.socket, "/")
}

// Volatile: a server's state in HAProxy changes with its health checks, so it is never read ahead.
func (s *Server) Volatile() bool { return true }

// Probe prints the server's state as key=value lines (see lib). It only reads.
func (s *Server) Probe() string {
	if !s.valid() {
		return ""
	}
	return probeScript(s.socket, s.backend, s.server)
}

// summary: "drain web1 in web_tls", "set web1 ready in web_tls".
func (s *Server) summary() string {
	if s.state == "drain" {
		return fmt.Sprintf("drain %s in %s", s.server, s.backend)
	}
	return fmt.Sprintf("set %s %s in %s", s.server, s.state, s.backend)
}

// Check reports a change when the server's forced admin state is not state.
func (s *Server) Check(p module.Probed) (*module.Change, error) {
	st := parseState(p.Stdout)
	switch {
	case st.Error != "":
		return nil, fmt.Errorf("HAProxy runtime API at %s: %s", s.socket, st.Error)
	case !st.Up:
		return &module.Change{Action: plan.Run, Summary: s.summary() + " (haproxy not running yet)"}, nil
	case st.BackendMissing:
		return nil, fmt.Errorf("HAProxy has no backend %q (socket %s)", s.backend, s.socket)
	case !st.Found:
		return nil, fmt.Errorf("HAProxy has no server %q in backend %q (socket %s)", s.server, s.backend, s.socket)
	case st.Forced == s.state:
		return nil, nil
	}
	return &module.Change{Action: plan.Run, Summary: s.summary()}, nil
}

// waitSecs is the timeout in whole seconds, rounded up; 0 without wait.
func (s *Server) waitSecs() int {
	if !s.wait {
		return 0
	}
	return max(1, int(math.Ceil(s.timeout.Seconds())))
}

// Apply sets the state and waits for its effect (see the package comment),
// whatever Check found.
func (s *Server) Apply(ctx context.Context, t transport.Transport) error {
	if !s.valid() {
		return fmt.Errorf("haproxy_server: invalid arguments")
	}
	cmd := fmt.Sprintf("set server %s/%s state %s", s.backend, s.server, s.state)
	res, err := shell.Output(ctx, t, cmd, applyScript(s.socket, s.backend, s.server, s.state, s.waitSecs()), nil)
	if err != nil {
		return err
	}
	f := shell.Fields(res.Stdout)
	st := parseState(res.Stdout)
	switch f["result"] {
	case "done":
		return nil
	case "unreachable":
		if st.Error != "" {
			return fmt.Errorf("%s: HAProxy runtime API at %s: %s", cmd, s.socket, st.Error)
		}
		return fmt.Errorf("%s: HAProxy runtime API at %s not reachable (is haproxy running?): %s", cmd, s.socket, st.Reason)
	case "missing":
		if st.BackendMissing {
			return fmt.Errorf("%s: HAProxy has no backend %q", cmd, s.backend)
		}
		return fmt.Errorf("%s: HAProxy has no server %q in backend %q", cmd, s.server, s.backend)
	case "refused":
		return fmt.Errorf("%s: HAProxy answered %q", cmd, f["answer"])
	case "timeout":
		if s.state == "drain" {
			// The wait is bounded: sessions still open at the deadline are
			// the clients' to finish (or lose), as with any drain.
			return nil
		}
		return fmt.Errorf("%s not UP in %s after %s: status %s", s.server, s.backend, s.timeoutText, st.describe())
	}
	return shell.NewRunError(cmd+" (no result printed)", res, nil)
}

// backupFile is the file, in the backup folder, holding the server's forced
// state from before the change ("" when HAProxy did not answer).
const backupFile = "state"

// Reversal implements module.Reversible: undo sets the recorded state back.
func (s *Server) Reversal(dir string) (backup, undo, after string) {
	if !s.valid() {
		return "", "", ""
	}
	file := shell.Quote(path.Join(dir, backupFile))
	pre := prelude(s.socket, s.backend, s.server)
	backup = pre + "st=$(hap_state)\n" +
		"prev=\nif [ \"$(field haproxy)\" = up ] && [ \"$(field found)\" = yes ]; then prev=$(field forced); fi\n" +
		fmt.Sprintf("printf '%%s\\n' \"$prev\" > %s || exit 1\n", file)

	var b strings.Builder
	b.WriteString(pre)
	fmt.Fprintf(&b, "if [ ! -f %s ]; then printf '%%s\\n' %s >&2; exit 1; fi\n", file, shell.Quote("skiff: no saved state of "+s.backend+"/"+s.server+" in "+dir))
	fmt.Fprintf(&b, "prev=$(cat %s)\n", file)
	b.WriteString("case $prev in ready|drain|maint) ;; *) exit 0 ;; esac\n")
	b.WriteString("st=$(hap_state)\n")
	fmt.Fprintf(&b, "if [ \"$(field haproxy)\" != up ]; then printf '%%s\\n' %s >&2; exit 0; fi\n",
		shell.Quote("skiff: HAProxy is not running: "+s.backend+"/"+s.server+" starts from its configuration"))
	b.WriteString("if [ \"$(field found)\" != yes ]; then exit 0; fi\n")
	fmt.Fprintf(&b, "ans=$(hap \"set server %s/%s state $prev\" 2>&1) || { printf '%%s\\n' \"$ans\" >&2; exit 1; }\n", s.backend, s.server)
	b.WriteString("if [ -n \"$(printf '%s' \"$ans\" | tr -d '\\n')\" ]; then printf 'haproxy: %s\\n' \"$ans\" >&2; exit 1; fi\n")
	return backup, b.String(), ""
}
