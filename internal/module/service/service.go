// Package service is the "service" task kind for systemd units.
//
//	task "service" "nginx" {
//	  name    = "nginx"        # unit; ".service" is implied
//	  state   = "started"      # "stopped", "restarted", "reloaded"
//	  enabled = true
//	}
//
// restarted and reloaded always act (they are meant for handlers); reloaded
// starts a unit that is not running. A unit that does not exist yet (its
// package is installed by an earlier task of the same plan) is reported as
// a change, and Apply fails clearly if it still does not exist then. A
// pending daemon-reload (unit file changed on disk) is done before acting.
package service

import (
	"context"
	"fmt"
	"strings"

	"skiff/internal/module"
	"skiff/internal/module/shell"
	"skiff/internal/plan"
	"skiff/internal/transport"
)

// Service is one "service" task.
type Service struct {
	name       string
	state      string // "" when not managed
	enabled    bool
	hasEnabled bool

	// set by Check
	ops          []string // systemctl verbs in order: enable, disable, start, stop, restart, reload
	daemonReload bool
}

var _ module.Module = (*Service)(nil)

// New is the module.Factory of the "service" kind.
func New(a *module.Args) module.Module {
	s := &Service{name: a.String("name", true)}
	a.RejectSensitive("name")
	if s.name == "" && a.Has("name") && !a.Unknown("name") {
		a.Errorf("name", "name must not be empty.")
	}
	if strings.ContainsAny(s.name, " \t\n/") {
		a.Errorf("name", "%q is not a systemd unit name.", s.name)
	}
	if a.Has("state") {
		s.state = a.OneOf("state", "", "started", "stopped", "restarted", "reloaded")
	}
	s.hasEnabled = a.Has("enabled")
	s.enabled = a.Bool("enabled", false)
	if !a.Has("state") && !s.hasEnabled {
		a.Errorf("state", "Give state, enabled, or both.")
	}
	return s
}

// Probe prints systemctl show's LoadState and NeedDaemonReload, then
// "active=…" and "enabled=…", or "systemd=no".
func (s *Service) Probe() string {
	if s.name == "" {
		return ""
	}
	u := shell.Quote(s.name)
	return "if ! command -v systemctl >/dev/null 2>&1; then echo systemd=no; exit 0; fi\n" +
		fmt.Sprintf("systemctl show -p LoadState -p NeedDaemonReload %s 2>/dev/null\n", u) +
		fmt.Sprintf("echo \"active=$(systemctl is-active %s 2>/dev/null)\"\n", u) +
		fmt.Sprintf("echo \"enabled=$(systemctl is-enabled %s 2>/dev/null)\"\n", u)
}

// running: is-active states in which "started" holds.
func running(active string) bool {
	return active == "active" || active == "reloading" || active == "activating"
}

// is-enabled states where enable, resp. disable, has nothing (more) to do.
var (
	enabledOK  = map[string]bool{"enabled": true, "enabled-runtime": true, "static": true, "alias": true, "indirect": true, "generated": true, "transient": true}
	disabledOK = map[string]bool{"disabled": true, "static": true, "masked": true, "masked-runtime": true, "indirect": true, "generated": true, "transient": true, "not-found": true, "": true}
)

// Check lists the systemctl operations that bring the unit to the wanted state.
func (s *Service) Check(p module.Probed) (*module.Change, error) {
	s.ops, s.daemonReload = nil, false
	f := shell.Fields(p.Stdout)
	if f["systemd"] == "no" {
		return nil, fmt.Errorf("systemctl not found: the service kind needs systemd")
	}
	load, ok := f["LoadState"]
	if !ok {
		return nil, fmt.Errorf("systemctl show %s printed no LoadState (is systemd running?) (exit %d): %q", s.name, p.ExitCode, strings.TrimSpace(string(p.Stdout)))
	}
	active, enabled := f["active"], f["enabled"]
	s.daemonReload = f["NeedDaemonReload"] == "yes"

	if load == "masked" && (s.state == "started" || s.state == "restarted" || s.state == "reloaded" || (s.hasEnabled && s.enabled)) {
		return nil, fmt.Errorf("unit %s is masked: unmask it (systemctl unmask %s) before starting or enabling it", s.name, s.name)
	}
	missing := load == "not-found"
	if missing {
		active, enabled = "inactive", "not-found"
	}

	var msgs []string
	if s.hasEnabled {
		switch {
		case s.enabled && !enabledOK[enabled]:
			s.ops = append(s.ops, "enable")
			msgs = append(msgs, "enable "+s.name)
		case !s.enabled && !disabledOK[enabled]:
			s.ops = append(s.ops, "disable")
			msgs = append(msgs, "disable "+s.name)
		}
	}
	action := plan.Update
	switch s.state {
	case "started":
		if !running(active) {
			s.ops = append(s.ops, "start")
			msgs = append(msgs, "start "+s.name)
		}
	case "stopped":
		if active != "inactive" && active != "failed" && active != "" && active != "unknown" {
			s.ops = append(s.ops, "stop")
			msgs = append(msgs, "stop "+s.name)
		}
	case "restarted":
		s.ops = append(s.ops, "restart")
		msgs = append(msgs, "restart "+s.name)
		action = plan.Run
	case "reloaded":
		s.ops = append(s.ops, "reload")
		if running(active) {
			msgs = append(msgs, "reload "+s.name)
		} else {
			msgs = append(msgs, "start "+s.name+" (reload asked, not running)")
		}
		action = plan.Run
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	summary := strings.Join(msgs, "; ")
	if missing {
		summary += " (unit not found yet)"
	}
	return &module.Change{Action: action, Summary: summary}, nil
}

// exitNoUnit: the unit does not exist at apply time.
const exitNoUnit = 90

// Apply runs daemon-reload if pending, then the operations Check listed.
func (s *Service) Apply(ctx context.Context, t transport.Transport) error {
	if len(s.ops) == 0 {
		return nil
	}
	u := shell.Quote(s.name)
	var b strings.Builder
	fmt.Fprintf(&b, "if [ \"$(systemctl show -p LoadState %s 2>/dev/null)\" = LoadState=not-found ]; then exit %d; fi\n", u, exitNoUnit)
	if s.daemonReload {
		b.WriteString("systemctl daemon-reload || exit 1\n")
	}
	for _, op := range s.ops {
		if op == "reload" {
			fmt.Fprintf(&b, "if systemctl is-active --quiet %s; then systemctl reload %s || exit 1; else systemctl start %s || exit 1; fi\n", u, u, u)
			continue
		}
		fmt.Fprintf(&b, "systemctl %s %s || exit 1\n", op, u)
	}
	res, err := t.Run(ctx, b.String())
	if err != nil {
		return err
	}
	switch res.ExitCode {
	case 0:
		return nil
	case exitNoUnit:
		return fmt.Errorf("unit %s not found: is the package that provides it installed?", s.name)
	default:
		return shell.NewRunError("systemctl "+strings.Join(s.ops, ", ")+" "+s.name, res, nil)
	}
}
