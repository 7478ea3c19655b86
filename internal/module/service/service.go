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
//
// Changes can be undone (module.Reversible): the unit's is-active and
// is-enabled states are recorded on the host before the change, and undo
// brings back those the change touched (enable/disable, start/stop). A
// restart or reload is not undone as such: a rollback repeats it, as its
// after step, on a running unit, once the earlier changes (its config) are
// restored. A restart or reload that started a stopped unit is undone by
// stopping it again.
package service

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
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
	wasRunning   bool
}

var (
	_ module.Module     = (*Service)(nil)
	_ module.Reversible = (*Service)(nil)
)

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

// Probe prints systemctl show's LoadState, NeedDaemonReload, ActiveState
// (what is-active prints) and UnitFileState (what is-enabled prints), or
// "systemd=no": one systemctl call, not three. Where UnitFileState is empty
// or "generated" (a SysV script), it adds "enabled=" from is-enabled, which
// asks the SysV tools.
func (s *Service) Probe() string {
	if s.name == "" {
		return ""
	}
	u := shell.Quote(s.name)
	return "if ! command -v systemctl >/dev/null 2>&1; then echo systemd=no; exit 0; fi\n" +
		fmt.Sprintf("s=$(systemctl show -p LoadState -p NeedDaemonReload -p ActiveState -p UnitFileState %s 2>/dev/null)\n", u) +
		"printf '%s\\n' \"$s\"\n" +
		"case \"\n$s\n\" in *\"\nUnitFileState=\n\"* | *\"\nUnitFileState=generated\n\"*)\n" +
		fmt.Sprintf("\tprintf '%%s\\n' \"enabled=$(systemctl is-enabled %s 2>/dev/null)\" ;;\nesac\n", u)
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
	s.ops, s.daemonReload, s.wasRunning = nil, false, false
	f := shell.Fields(p.Stdout)
	if f["systemd"] == "no" {
		return nil, fmt.Errorf("systemctl not found: the service kind needs systemd")
	}
	load, ok := f["LoadState"]
	if !ok {
		return nil, fmt.Errorf("systemctl show %s printed no LoadState (is systemd running?) (exit %d): %q", s.name, p.ExitCode, strings.TrimSpace(string(p.Stdout)))
	}
	active, enabled := f["ActiveState"], f["UnitFileState"]
	if e, ok := f["enabled"]; ok {
		enabled = e
	}
	s.daemonReload = f["NeedDaemonReload"] == "yes"

	if load == "masked" && (s.state == "started" || s.state == "restarted" || s.state == "reloaded" || (s.hasEnabled && s.enabled)) {
		return nil, fmt.Errorf("unit %s is masked: unmask it (systemctl unmask %s) before starting or enabling it", s.name, s.name)
	}
	missing := load == "not-found"
	if missing {
		active, enabled = "inactive", "not-found"
	}

	s.wasRunning = running(active)
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
	res, err := shell.Output(ctx, t, "systemctl "+strings.Join(s.ops, ", ")+" "+s.name, b.String(), nil)
	if res.ExitCode == exitNoUnit {
		return fmt.Errorf("unit %s not found: is the package that provides it installed?", s.name)
	}
	return err
}

// backupState is the file, in the backup folder, holding the unit's
// "active=…" and "enabled=…" lines from before the change.
const backupState = "state"

// Reversal implements module.Reversible for the operations Check chose.
func (s *Service) Reversal(dir string) (backup, undo, after string) {
	var enable, active bool // what undo restores
	var again string        // restart or reload, repeated by after
	for _, op := range s.ops {
		switch op {
		case "enable", "disable":
			enable = true
		case "start", "stop":
			active = true
		case "restart", "reload":
			again = op
			// Both start a stopped unit: then undo stops it.
			active = active || !s.wasRunning
		}
	}
	u := shell.Quote(s.name)
	state := shell.Quote(path.Join(dir, backupState))
	// The unit's pending daemon-reload is done first, as Apply does.
	reloadDaemon := fmt.Sprintf("if [ \"$(systemctl show -p NeedDaemonReload %s 2>/dev/null)\" = NeedDaemonReload=yes ]; then systemctl daemon-reload || exit 1; fi\n", u)
	if again != "" {
		after = reloadDaemon + fmt.Sprintf("if systemctl is-active --quiet %s; then systemctl %s %s || exit 1; fi\n", u, again, u)
	}
	if !enable && !active {
		return "", "", after
	}

	backup = fmt.Sprintf("printf 'active=%%s\\nenabled=%%s\\n' \"$(systemctl is-active %s 2>/dev/null)\" \"$(systemctl is-enabled %s 2>/dev/null)\" > %s || exit 1\n", u, u, state)

	var b strings.Builder
	fmt.Fprintf(&b, "if [ ! -f %s ]; then printf '%%s\\n' %s >&2; exit 1; fi\n", state, shell.Quote("skiff: no saved state of "+s.name+" in "+dir))
	fmt.Fprintf(&b, "a=$(sed -n 's/^active=//p' %s); e=$(sed -n 's/^enabled=//p' %s)\n", state, state)
	// A unit gone since (its package removed) has nothing left to restore.
	fmt.Fprintf(&b, "if [ \"$(systemctl show -p LoadState %s 2>/dev/null)\" != LoadState=not-found ]; then\n", u)
	b.WriteString(reloadDaemon)
	if enable {
		b.WriteString("case $e in\n")
		fmt.Fprintf(&b, "enabled|alias) systemctl enable %s || exit 1 ;;\n", u)
		fmt.Fprintf(&b, "enabled-runtime) { systemctl disable %s && systemctl enable --runtime %s; } || exit 1 ;;\n", u, u)
		// Not found before: installed by this run, and not enabled then.
		fmt.Fprintf(&b, "disabled|not-found|'') systemctl disable %s || exit 1 ;;\n", u)
		fmt.Fprintf(&b, "*) printf '%%s\\n' %s\"$e\" >&2; exit 1 ;;\n", shell.Quote("skiff: cannot bring "+s.name+" back to is-enabled state "))
		b.WriteString("esac\n")
	}
	if active {
		b.WriteString("case $a in\n")
		fmt.Fprintf(&b, "active|reloading|activating) systemctl start %s || exit 1 ;;\n", u)
		fmt.Fprintf(&b, "*) systemctl stop %s || exit 1 ;;\n", u)
		b.WriteString("esac\n")
	}
	b.WriteString("fi\n")
	return backup, b.String(), after
}
