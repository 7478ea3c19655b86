// Package ufw is the "ufw" task kind: the host's firewall, compared with the
// rules ufw has saved (and, through `ufw status`, whether it is active).
//
//	task "ufw" "firewall" {
//	  default_incoming = "deny"    # allow, reject
//	  default_outgoing = "allow"   # deny, reject
//	  enabled          = true
//	  purge            = true      # delete the rules that are not declared
//	  rules = [
//	    { port = 22, from = ["10.0.0.0/8", "192.0.2.7"], comment = "ssh from admins" },
//	    { port = "80,443" },                        # proto tcp, from any
//	    { port = "6000:6007", proto = "udp", action = "limit" },
//	  ]
//	}
//
// Without rules, the rules are not managed (only the policies and whether
// ufw is enabled); rules = [] with purge deletes them all.
//
// A rule takes port (a number, "80,443" or "6000:6007"; all ports when
// absent), proto (tcp, udp or any; default tcp), from (an address, a CIDR
// network, "any" or a list of them; default any), action (allow, deny,
// reject or limit; default allow) and comment. As with ufw itself, an IPv4
// source gives an IPv4 rule, an IPv6 one an IPv6 rule, and "any" both (IPv6
// only when IPV6=yes in /etc/default/ufw).
//
// The probe reads ENABLED from /etc/ufw/ufw.conf, the default policies and
// IPV6 from /etc/default/ufw, the "### tuple ###" lines of
// /etc/ufw/user.rules and user6.rules (ufw's own record of its rules),
// whether ufw's chains are loaded (what `ufw status` reports as active or
// inactive), and the Port lines of sshd_config.
//
// Apply never locks the run out: it adds missing rules first, then sets the
// default policies, then deletes the rules that are not declared (purge),
// and enables ufw last. Check refuses a change that would leave the firewall
// enabled, incoming traffic denied, and no rule allowing sshd's port.
//
// Rules are compared as a set: ufw appends new rules, and evaluates them in
// order, so a deny that must come before an allow of the same traffic needs
// the allow added later. Rules with the same port, protocol and source but a
// different action or comment are replaced in place, as ufw does.
//
// Changes can be undone (module.Reversible, see Reversal): ufw's files are
// saved before the change and put back by undo, which then reloads ufw.
package ufw

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// UFW is one "ufw" task.
type UFW struct {
	incoming, outgoing string // deny, allow or reject
	enabled, purge     bool
	manageRules        bool // rules was given ([] included)
	decls              []decl
	// root prefixes the paths the probe reads; tests point it at samples.
	root string

	// set by Check
	notInstalled bool
	adds         []Rule      // added, or replacing the rule with the same key
	deletes      []Rule      // purged
	policies     [][2]string // {"deny", "incoming"}: `ufw default deny incoming`
	enable       bool
	disable      bool
}

var _ module.Module = (*UFW)(nil)

// policyFile maps a policy to its value in /etc/default/ufw.
var policyFile = map[string]string{"deny": "DROP", "allow": "ACCEPT", "reject": "REJECT"}

// New is the module.Factory of the "ufw" kind.
func New(a *module.Args) module.Module {
	a.RejectSensitive("default_incoming", "default_outgoing", "enabled", "purge", "rules")
	u := &UFW{
		incoming: a.OneOf("default_incoming", "deny", "deny", "allow", "reject"),
		outgoing: a.OneOf("default_outgoing", "allow", "allow", "deny", "reject"),
		enabled:  a.Bool("enabled", true),
		purge:    a.Bool("purge", true),
	}
	u.manageRules = a.Has("rules")
	u.decls = parseRules(a)
	return u
}

// state is what the probe found.
type state struct {
	installed     bool
	configEnabled bool   // ENABLED=yes in ufw.conf
	status        string // "active", "inactive" or "" (ufw status unreadable)
	input, output string // DROP, ACCEPT or REJECT
	ipv6          bool
	rules         []Rule // IPv4 rules, then IPv6 rules, in file order
	sshPorts      []int
}

// fresh is the state of a host where the ufw package is not installed yet:
// what installing it gives.
func fresh(sshPorts []int) state {
	return state{input: "DROP", output: "ACCEPT", ipv6: true, sshPorts: sshPorts}
}

func (s state) active() bool {
	if s.status != "" {
		return s.configEnabled && s.status == "active"
	}
	return s.configEnabled
}

// Probe prints "sshd_ports=…", "installed=yes|no", then enabled=, input=,
// output=, ipv6= and status= lines, then the tuple lines under [rules4] and
// [rules6]. Every command reads /dev/null: the probe shares its script's stdin.
// The status is `ufw status`'s first line, found as ufw finds it (its
// chains loaded in iptables or not) without starting ufw's Python, which
// costs a tenth of a second of CPU on every host.
func (u *UFW) Probe() string {
	p := func(path string) string { return shell.Quote(u.root + path) }
	return fmt.Sprintf(`echo "sshd_ports=$(sed -n 's/^[[:space:]]*[Pp][Oo][Rr][Tt][[:space:]]\{1,\}\([0-9]\{1,5\}\).*/\1/p' %s %s/*.conf 2>/dev/null </dev/null | tr '\n' ' ')"
if ! command -v ufw >/dev/null 2>&1; then echo installed=no; exit 0; fi
echo installed=yes
sed -n 's/^[[:space:]]*ENABLED=/enabled=/p' %s 2>/dev/null </dev/null
sed -n -e 's/^[[:space:]]*DEFAULT_INPUT_POLICY=/input=/p' -e 's/^[[:space:]]*DEFAULT_OUTPUT_POLICY=/output=/p' -e 's/^[[:space:]]*IPV6=/ipv6=/p' %s 2>/dev/null </dev/null
iptables -n -L ufw-user-input >/dev/null 2>&1 </dev/null
case $? in 0) echo 'status=Status: active' ;; 1) echo 'status=Status: inactive' ;; esac
echo '[rules4]'
grep '^### tuple ###' %s 2>/dev/null </dev/null
echo '[rules6]'
grep '^### tuple ###' %s 2>/dev/null </dev/null
echo '[end]'
`, p("/etc/ssh/sshd_config"), p("/etc/ssh/sshd_config.d"), p("/etc/ufw/ufw.conf"), p("/etc/default/ufw"),
		p("/etc/ufw/user.rules"), p("/etc/ufw/user6.rules"))
}

func unquote(s string) string { return strings.Trim(strings.TrimSpace(s), `"'`) }

// parseState reads the probe's output.
func parseState(out []byte, exitCode int) (state, error) {
	sec := shell.Sections(out)
	f := shell.Fields([]byte(sec[""]))
	var ports []int
	for w := range strings.FieldsSeq(f["sshd_ports"]) {
		if n, err := strconv.Atoi(w); err == nil && n > 0 && n < 65536 {
			ports = append(ports, n)
		}
	}
	if len(ports) == 0 {
		ports = []int{22}
	}
	switch f["installed"] {
	case "no":
		return fresh(ports), nil
	case "yes":
	default:
		return state{}, fmt.Errorf("ufw probe printed %q (exit %d)", strings.TrimSpace(string(out)), exitCode)
	}
	if _, ok := sec["end"]; !ok {
		return state{}, fmt.Errorf("ufw probe was cut short (exit %d): %q", exitCode, strings.TrimSpace(string(out)))
	}
	s := state{
		installed:     true,
		configEnabled: strings.EqualFold(unquote(f["enabled"]), "yes"),
		input:         strings.ToUpper(unquote(f["input"])),
		output:        strings.ToUpper(unquote(f["output"])),
		ipv6:          !strings.EqualFold(unquote(f["ipv6"]), "no"),
		sshPorts:      ports,
	}
	if st, ok := strings.CutPrefix(f["status"], "Status: "); ok {
		s.status = strings.TrimSpace(st)
	}
	r4, err := ParseRules(sec["rules4"], false)
	if err != nil {
		return state{}, fmt.Errorf("/etc/ufw/user.rules: %w", err)
	}
	s.rules = r4
	if s.ipv6 { // with IPV6=no ufw ignores user6.rules, and so do we
		r6, err := ParseRules(sec["rules6"], true)
		if err != nil {
			return state{}, fmt.Errorf("/etc/ufw/user6.rules: %w", err)
		}
		s.rules = append(s.rules, r6...)
	}
	return s, nil
}

// item is one line of the change: a rule added (+), replaced (~) or deleted (-).
type item struct {
	op   byte
	rule Rule
	was  string // for ~: what the live rule had
}

// Check compares the declared firewall with the probed one.
func (u *UFW) Check(p module.Probed) (*module.Change, error) {
	u.notInstalled, u.adds, u.deletes, u.policies, u.enable, u.disable = false, nil, nil, nil, false, false
	st, err := parseState(p.Stdout, p.ExitCode)
	if err != nil {
		return nil, err
	}
	u.notInstalled = !st.installed

	var want []Rule
	wantKeys := map[string]bool{}
	for _, d := range u.decls {
		if !d.from.Any && d.from.V6 && !st.ipv6 {
			return nil, fmt.Errorf("rule %d allows IPv6 source %s, but IPv6 is off in ufw (IPV6=no in /etc/default/ufw)", d.index, d.from.Addr)
		}
		for _, r := range d.rules(st.ipv6) {
			want = append(want, r)
			wantKeys[r.Key()] = true
		}
	}
	live := map[string]Rule{}
	for _, r := range st.rules {
		live[r.Key()] = r
	}

	var items []item
	for _, r := range want {
		l, ok := live[r.Key()]
		switch {
		case !ok:
			u.adds = append(u.adds, r)
			items = append(items, item{op: '+', rule: r})
		case l.Action != r.Action || l.Comment != r.Comment:
			u.adds = append(u.adds, r)
			items = append(items, item{op: '~', rule: r, was: wasText(l, r)})
		}
	}
	if u.purge && u.manageRules {
		for _, l := range st.rules {
			if !wantKeys[l.Key()] {
				u.deletes = append(u.deletes, l)
				items = append(items, item{op: '-', rule: l})
			}
		}
	}

	var other []string // policy and enable lines
	for _, pol := range []struct{ want, have, dir string }{
		{u.incoming, st.input, "incoming"},
		{u.outgoing, st.output, "outgoing"},
	} {
		if policyFile[pol.want] != pol.have {
			u.policies = append(u.policies, [2]string{pol.want, pol.dir})
			other = append(other, fmt.Sprintf("default %s %s -> %s", pol.dir, policyName(pol.have), pol.want))
		}
	}
	switch {
	case u.enabled && !st.active():
		u.enable = true
		other = append(other, "enable ufw")
	case !u.enabled && (st.configEnabled || st.status == "active"):
		u.disable = true
		other = append(other, "disable ufw")
	}
	if len(items) == 0 && len(other) == 0 {
		return nil, nil
	}
	if err := u.checkSSH(st, want); err != nil {
		return nil, err
	}

	lines := render(items, st.ipv6)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	for _, o := range other {
		b.WriteString("~ " + o + "\n")
	}
	ch := &module.Change{Action: plan.Update, Summary: summary(lines, other), Diff: b.String()}
	if u.notInstalled {
		ch.Action = plan.Create
		ch.Summary = "ufw not installed yet: " + ch.Summary
	}
	return ch, nil
}

func policyName(file string) string {
	for k, v := range policyFile {
		if v == file {
			return k
		}
	}
	if file == "" {
		return "(unset)"
	}
	return strings.ToLower(file)
}

// wasText says what a replaced rule had that the declared one changes.
func wasText(live, want Rule) string {
	var w []string
	if live.Action != want.Action {
		w = append(w, strings.ReplaceAll(live.Action, "_", " "))
	}
	if live.Comment != want.Comment {
		if live.Comment == "" {
			w = append(w, "no comment")
		} else {
			w = append(w, "comment '"+live.Comment+"'")
		}
	}
	return strings.Join(w, ", ")
}

// checkSSH refuses a result that would cut off SSH: enabled, incoming not
// allowed by default, and no allow or limit rule for any of sshd's ports.
func (u *UFW) checkSSH(st state, want []Rule) error {
	if !u.enabled || u.incoming == "allow" {
		return nil
	}
	final := want
	if !u.purge || !u.manageRules {
		final = append(slices.Clone(want), st.rules...)
	}
	for _, r := range final {
		action, _, _ := strings.Cut(r.Action, "_")
		if r.Route || !strings.HasPrefix(r.Iface, "in") || (action != "allow" && action != "limit") || (r.Proto != "tcp" && r.Proto != "any") {
			continue
		}
		for _, port := range st.sshPorts {
			if covers(r.DPort, port) {
				return nil
			}
		}
	}
	return fmt.Errorf("refusing to change the firewall: with ufw enabled and incoming %s by default, no rule would allow sshd's port %v, which skiff needs to reach the host; add a rule such as { port = %d, from = \"ADMIN-CIDR\" }", u.incoming, st.sshPorts, st.sshPorts[0])
}
