package ufw

import (
	"context"
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// render shows items one line each, the IPv4 and IPv6 halves of a rule
// "from any" as one line; a half alone is marked (v4) or (v6).
func render(items []item, ipv6 bool) []string {
	type group struct {
		text     string
		families map[bool]bool
		anyAddr  bool
	}
	var order []string
	groups := map[string]*group{}
	for _, it := range items {
		text := string(it.op) + " " + it.rule.String()
		if it.was != "" {
			text += " (was: " + it.was + ")"
		}
		g, ok := groups[text]
		if !ok {
			g = &group{text: text, families: map[bool]bool{}, anyAddr: it.rule.Src == anyAddr(it.rule.V6) && it.rule.Dst == anyAddr(it.rule.V6)}
			groups[text] = g
			order = append(order, text)
		}
		g.families[it.rule.V6] = true
	}
	lines := make([]string, 0, len(order))
	for _, k := range order {
		g := groups[k]
		line := g.text
		if g.anyAddr && ipv6 && len(g.families) == 1 {
			if g.families[true] {
				line += " (v6)"
			} else {
				line += " (v4)"
			}
		}
		lines = append(lines, line)
	}
	return lines
}

// summaryRules is how many rule lines the one-line summary lists.
const summaryRules = 3

func summary(lines, other []string) string {
	var parts []string
	for i, l := range lines {
		if i == summaryRules {
			parts = append(parts, fmt.Sprintf("and %d more rule changes", len(lines)-summaryRules))
			break
		}
		parts = append(parts, l[:1]+l[2:]) // "+allow 443/tcp from any"
	}
	return strings.Join(append(parts, other...), ", ")
}

// exitNotInstalled: ufw is missing at apply time.
const exitNotInstalled = 90

// script is what Apply runs: adds, policies, deletes, enable, in that order,
// stopping at the first failure (ufw is then left with the earlier steps
// done, which never remove access that a later step would have kept).
func (u *UFW) script() string {
	var b strings.Builder
	fmt.Fprintf(&b, "command -v ufw >/dev/null 2>&1 || exit %d\n", exitNotInstalled)
	step := func(argv []string) {
		cmd := shell.Join(argv)
		fmt.Fprintf(&b, "%s </dev/null || { printf '%%s\\n' %s >&2; exit 1; }\n", cmd, shell.Quote("skiff: failed: "+strings.Join(argv, " ")))
	}
	for _, r := range u.adds {
		step(r.AddArgs())
	}
	for _, p := range u.policies {
		step([]string{"ufw", "default", p[0], p[1]})
	}
	for _, r := range u.deletes {
		step(r.DeleteArgs())
	}
	switch {
	case u.enable:
		step([]string{"ufw", "--force", "enable"})
	case u.disable:
		step([]string{"ufw", "disable"})
	}
	return b.String()
}

// Apply runs the ufw commands Check decided on.
func (u *UFW) Apply(ctx context.Context, t transport.Transport) error {
	if len(u.adds)+len(u.deletes)+len(u.policies) == 0 && !u.enable && !u.disable {
		return nil
	}
	res, err := shell.Output(ctx, t, "ufw", u.script(), nil)
	if res.ExitCode == exitNotInstalled {
		return fmt.Errorf("ufw is not installed on the host: install the ufw package first (a package task before this one)")
	}
	return err
}
