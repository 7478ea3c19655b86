package haproxy

import (
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// State is one server as hap_state (see lib) printed it.
type State struct {
	Up             bool   // the runtime API answered
	Reason         string // why it did not, when !Up
	Error          string // the socket answered oddly, or could not be used
	BackendMissing bool
	Found          bool
	Admin          string // effective: ready, drain or maint
	Forced         string // what `set server … state` set: ready, drain or maint
	AdminBits      string // srv_admin_state
	OpState        string // srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping
	Status         string // show stat's status: UP, DOWN, DRAIN, MAINT, "DOWN 1/2", "no check"…
	Scur           string // current sessions
	CheckStatus    string // L7OK, L7STS, L4CON… ("* " of a check in progress removed)
	CheckCode      string // the HTTP status of an L7 check
	CheckDesc      string // "Layer7 wrong status"…
}

// parseState reads hap_state's key=value lines.
func parseState(out []byte) State {
	f := shell.Fields(out)
	return State{
		Up:             f["haproxy"] == "up",
		Reason:         f["reason"],
		Error:          f["error"],
		BackendMissing: f["backend"] == "missing",
		Found:          f["found"] == "yes",
		Admin:          f["admin"],
		Forced:         f["forced"],
		AdminBits:      f["admin_bits"],
		OpState:        f["op_state"],
		Status:         f["status"],
		Scur:           f["scur"],
		CheckStatus:    strings.TrimPrefix(f["check_status"], "* "),
		CheckCode:      f["check_code"],
		CheckDesc:      f["check_desc"],
	}
}

// describe is the server's status for messages: "DOWN (L7STS 503: Layer7
// wrong status)", "MAINT".
func (s State) describe() string {
	if !s.Up {
		if s.Error != "" {
			return "unknown (" + s.Error + ")"
		}
		return "unknown (HAProxy not reachable: " + s.Reason + ")"
	}
	status := s.Status
	if status == "" {
		status = "unknown"
	}
	check := strings.TrimSpace(s.CheckStatus + " " + s.CheckCode)
	if s.CheckDesc != "" {
		if check != "" {
			check += ": "
		}
		check += s.CheckDesc
	}
	if check == "" {
		return status
	}
	return fmt.Sprintf("%s (%s)", status, check)
}
