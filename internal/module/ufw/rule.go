package ufw

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Rule is one ufw rule of one address family, in the normal form ufw 0.36
// stores in the "### tuple ###" lines of /etc/ufw/user.rules (IPv4) and
// user6.rules (IPv6):
//
//	### tuple ### ACTION PROTO DPORT DST SPORT SRC [DAPP SAPP] [DIRECTION] [comment=HEX]
//
// for example "### tuple ### allow tcp 22 0.0.0.0/0 any 10.0.0.0/8 in comment=737368".
type Rule struct {
	V6     bool
	Route  bool   // "route:allow": a forward rule
	Action string // allow, deny, reject, limit; "allow_log", "deny_log-all" with logging
	Proto  string // tcp, udp, any…
	DPort  string // "22", "80,443", "6000:6007" or "any"
	Dst    string // "0.0.0.0/0" / "::/0" for any, else an address or CIDR
	SPort  string
	Src    string
	DApp   string // application profile names ("" for none)
	SApp   string
	Iface  string // "in", "out", "in_eth0", "out_eth1", "in_eth0!out_eth1"
	// Comment is the decoded comment (ufw stores it hex-encoded).
	Comment string
}

// anyAddr is how ufw writes "anywhere" in each family.
func anyAddr(v6 bool) string {
	if v6 {
		return "::/0"
	}
	return "0.0.0.0/0"
}

// Key identifies a rule the way ufw matches rules: everything but the
// action (with its log type) and the comment. Adding a rule whose key exists
// replaces that rule in place; deleting needs the action but not the comment.
func (r Rule) Key() string {
	return fmt.Sprintf("%t|%t|%s|%s|%s|%s|%s|%s|%s|%s", r.V6, r.Route, r.Proto, r.DPort, r.Dst, r.SPort, r.Src, r.DApp, r.SApp, r.Iface)
}

// ParseTuple parses one "### tuple ###" line of user.rules (v6 false) or
// user6.rules (v6 true), as ufw's backend_iptables._read_rules does.
func ParseTuple(line string, v6 bool) (Rule, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "### tuple ###")
	if !ok {
		return Rule{}, fmt.Errorf("not a tuple line: %q", line)
	}
	r := Rule{V6: v6}
	if body, c, found := strings.Cut(rest, " comment="); found {
		rest = body
		dec, err := hex.DecodeString(strings.TrimSpace(c))
		if err != nil {
			return Rule{}, fmt.Errorf("tuple %q: bad comment encoding", line)
		}
		r.Comment = string(dec)
	}
	f := strings.Fields(rest)
	if len(f) < 6 || len(f) > 9 {
		return Rule{}, fmt.Errorf("tuple %q: %d fields", line, len(f))
	}
	r.Action, r.Proto, r.DPort, r.Dst, r.SPort, r.Src = f[0], f[1], f[2], f[3], f[4], f[5]
	if a, ok := strings.CutPrefix(r.Action, "route:"); ok {
		r.Route, r.Action = true, a
	}
	r.Iface = "in" // the old 6- and 8-field formats had no direction
	if len(f) == 7 || len(f) == 9 {
		r.Iface = f[len(f)-1]
	}
	if len(f) >= 8 {
		unapp := func(s string) string {
			if s == "-" {
				return ""
			}
			return strings.ReplaceAll(s, "%20", " ")
		}
		r.DApp, r.SApp = unapp(f[6]), unapp(f[7])
	}
	return r, nil
}

// ParseRules parses the tuple lines of a rules file; other lines are ignored.
func ParseRules(text string, v6 bool) ([]Rule, error) {
	var out []Rule
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "### tuple ###") {
			continue
		}
		r, err := ParseTuple(line, v6)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// simple reports whether r has only what a declared rule can have: an
// incoming rule to any address, from any source port, without applications
// or interfaces.
func (r Rule) simple() bool {
	return !r.Route && r.Dst == anyAddr(r.V6) && r.SPort == "any" && r.DApp == "" && r.SApp == "" && r.Iface == "in"
}

// addrText shows an address, "any" for anywhere.
func addrText(a string, v6 bool) string {
	if a == anyAddr(v6) {
		return "any"
	}
	return a
}

// String shows r for humans without its family: "allow 22/tcp from
// 10.0.0.0/8", "deny from 192.168.1.5", "allow out on eth0 to any port 25 proto tcp".
func (r Rule) String() string {
	var b strings.Builder
	if r.Route {
		b.WriteString("route ")
	}
	action, logType, _ := strings.Cut(r.Action, "_")
	b.WriteString(action)
	if logType != "" {
		b.WriteString(" " + logType)
	}
	if r.simple() {
		if pp := portProto(r.DPort, r.Proto); pp != "" {
			b.WriteString(" " + pp)
		}
		fmt.Fprintf(&b, " from %s", addrText(r.Src, r.V6))
	} else {
		for _, w := range r.words(false) {
			if strings.Contains(w, " ") {
				w = "'" + w + "'"
			}
			b.WriteString(" " + w)
		}
	}
	if r.Comment != "" {
		fmt.Fprintf(&b, " comment '%s'", r.Comment)
	}
	return b.String()
}

// portProto shows a port and protocol: "22/tcp", "53" (any protocol),
// "proto udp" (any port), "" (any port, any protocol).
func portProto(port, proto string) string {
	switch {
	case port != "any" && proto != "any":
		return port + "/" + proto
	case port != "any":
		return port
	case proto != "any":
		return "proto " + proto
	}
	return ""
}

// words returns the ufw command-line words of r after the action (with
// explicit addresses when explicit is set, which restricts the command to
// r's family: "from any" would act on both), in the order ufw's
// UFWCommandRule.get_command writes them.
func (r Rule) words(explicit bool) []string {
	var w []string
	in, out, _ := strings.Cut(r.Iface, "!")
	switch {
	case strings.HasPrefix(in, "in_"):
		w = append(w, "in", "on", strings.TrimPrefix(in, "in_"))
	case strings.HasPrefix(in, "out_"):
		out = in
	}
	switch {
	case strings.HasPrefix(out, "out_"):
		w = append(w, "out", "on", strings.TrimPrefix(out, "out_"))
	case r.Iface == "out":
		w = append(w, "out")
	}
	if _, logType, ok := strings.Cut(r.Action, "_"); ok {
		w = append(w, logType)
	}
	addr := func(a string) string {
		if explicit {
			return a
		}
		return addrText(a, r.V6)
	}
	w = append(w, "from", addr(r.Src))
	if r.SApp != "" {
		w = append(w, "app", r.SApp)
	} else if r.SPort != "any" {
		w = append(w, "port", r.SPort)
	}
	w = append(w, "to", addr(r.Dst))
	if r.DApp != "" {
		w = append(w, "app", r.DApp)
	} else if r.DPort != "any" {
		w = append(w, "port", r.DPort)
	}
	if r.Proto != "any" && r.DApp == "" && r.SApp == "" {
		w = append(w, "proto", r.Proto)
	}
	return w
}

// AddArgs is the ufw command (argv) that adds r, or replaces the rule with
// r's key in place; the comment is set too.
func (r Rule) AddArgs() []string {
	action, _, _ := strings.Cut(r.Action, "_")
	argv := []string{"ufw"}
	if r.Route {
		argv = append(argv, "route")
	}
	argv = append(argv, action)
	argv = append(argv, r.words(true)...)
	if r.Comment != "" {
		argv = append(argv, "comment", r.Comment)
	}
	return argv
}

// DeleteArgs is the ufw command (argv) that deletes exactly r: its action
// and log type must be given, its comment need not.
func (r Rule) DeleteArgs() []string {
	action, _, _ := strings.Cut(r.Action, "_")
	argv := []string{"ufw"}
	if r.Route {
		argv = append(argv, "route")
	}
	argv = append(argv, "delete", action)
	return append(argv, r.words(true)...)
}

// normPorts validates a destination port as ufw's UFWRule.set_port does
// (numbers 1–65535, "a:b" ranges with a < b, at most 15 items counting both
// ends of a range) and returns it sorted as ufw's normalize does.
func normPorts(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty port")
	}
	if strings.Count(s, ",")+strings.Count(s, ":") > 14 {
		return "", fmt.Errorf("%q has more than 15 ports (an iptables limit)", s)
	}
	type item struct {
		lo, hi int
		text   string
	}
	var items []item
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		lo, hi, isRange := strings.Cut(p, ":")
		l, err1 := strconv.Atoi(lo)
		h := l
		var err2 error
		if isRange {
			h, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || l < 1 || l > 65535 || h < 1 || h > 65535 {
			return "", fmt.Errorf("%q is not a port, a list of ports (\"80,443\") or a range (\"6000:6007\")", s)
		}
		if isRange && l >= h {
			return "", fmt.Errorf("range %q must go from the lower port to the higher", p)
		}
		text := strconv.Itoa(l)
		if isRange {
			text += ":" + strconv.Itoa(h)
		}
		items = append(items, item{l, h, text})
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if a.lo != b.lo {
			return a.lo - b.lo
		}
		return a.hi - b.hi
	})
	texts := make([]string, len(items))
	for i, it := range items {
		texts[i] = it.text
	}
	return strings.Join(texts, ","), nil
}

// multiPort reports whether ports holds a list or a range (ufw then needs
// tcp or udp).
func multiPort(ports string) bool { return strings.ContainsAny(ports, ",:") }

// covers reports whether the port list ports ("any", "22", "80,443",
// "6000:6007") contains port.
func covers(ports string, port int) bool {
	if ports == "any" {
		return true
	}
	for p := range strings.SplitSeq(ports, ",") {
		lo, hi, isRange := strings.Cut(p, ":")
		l, _ := strconv.Atoi(lo)
		h := l
		if isRange {
			h, _ = strconv.Atoi(hi)
		}
		if port >= l && port <= h {
			return true
		}
	}
	return false
}

// addrProblem is what net/netip found wrong, without the Go calls its
// errors name (`netip.ParsePrefix("…"): ParseAddr("…"): `).
func addrProblem(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		msg = msg[i+3:]
	}
	return msg
}

// Source is a rule's "from": "any", or an address or network of one family.
type Source struct {
	Any  bool
	V6   bool
	Addr string // as ufw stores it: host addresses without /32 or /128, IPv4 networks masked
}

// ParseSource validates s with net/netip and normalises it as ufw's
// util.normalize_address does.
func ParseSource(s string) (Source, error) {
	if strings.EqualFold(s, "any") {
		return Source{Any: true}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Source{}, fmt.Errorf("%q is not an IP address or CIDR network: %s", s, addrProblem(err))
		}
		a := p.Addr()
		if a.Is4In6() {
			return Source{}, fmt.Errorf("%q: write IPv4 networks in IPv4 form", s)
		}
		if a.Is4() {
			if p.Bits() == 32 {
				return Source{Addr: a.String()}, nil
			}
			return Source{Addr: p.Masked().String()}, nil
		}
		if p.Bits() == 128 {
			return Source{V6: true, Addr: a.String()}, nil
		}
		// ufw keeps the host bits of IPv6 networks as written (canonical form).
		return Source{V6: true, Addr: a.String() + "/" + strconv.Itoa(p.Bits())}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Source{}, fmt.Errorf("%q is not an IP address or CIDR network: %s", s, addrProblem(err))
	}
	if a.Zone() != "" || a.Is4In6() {
		return Source{}, fmt.Errorf("%q: zones and IPv4-mapped addresses are not supported", s)
	}
	return Source{V6: a.Is6(), Addr: a.String()}, nil
}
