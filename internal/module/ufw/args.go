package ufw

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
)

// decl is one declared rule of the "rules" argument, one source of it.
type decl struct {
	index   int // position in rules, from 1, for messages
	action  string
	proto   string
	port    string // normalised, "any" when not given
	from    Source
	comment string
}

// ruleAttrs are the attributes of one element of "rules".
var ruleAttrs = []string{"port", "proto", "from", "action", "comment"}

// parseRules reads the "rules" argument: a list of objects. Problems are
// recorded with a.Errorf; elements that are not known yet (validate) are
// skipped.
func parseRules(a *module.Args) []decl {
	v := a.Value("rules")
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() {
		return nil
	}
	ty := v.Type()
	if !ty.IsListType() && !ty.IsTupleType() && !ty.IsSetType() {
		a.Errorf("rules", "rules must be a list of objects such as { port = 22, proto = \"tcp\", from = \"10.0.0.0/8\" }.")
		return nil
	}
	var out []decl
	i := 0
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		i++
		if !e.IsWhollyKnown() {
			continue
		}
		out = append(out, parseRule(a, i, e)...)
	}
	seen := map[string]int{}
	for _, d := range out {
		for _, r := range d.rules(true) {
			j, dup := seen[r.Key()]
			if dup {
				if j == d.index {
					a.Errorf("rules", "Rule %d lists the source %s twice.", j, addrText(r.Src, r.V6))
				} else {
					a.Errorf("rules", "Rules %d and %d both set %s from %s: give each port, protocol and source once.", j, d.index, portText(d), addrText(r.Src, r.V6))
				}
				break // one message per source
			}
			seen[r.Key()] = d.index
		}
	}
	return out
}

func portText(d decl) string {
	if pp := portProto(d.port, d.proto); pp != "" {
		return pp
	}
	return "all ports"
}

// parseRule reads element i (from 1) of rules: one decl per source.
func parseRule(a *module.Args, i int, e cty.Value) []decl {
	var attrs map[string]cty.Value
	switch {
	case e.IsNull():
		a.Errorf("rules", "Rule %d is null.", i)
		return nil
	case e.Type().IsObjectType() || e.Type().IsMapType():
		attrs = e.AsValueMap()
	default:
		a.Errorf("rules", "Rule %d must be an object such as { port = 22, proto = \"tcp\" }, not a %s.", i, e.Type().FriendlyName())
		return nil
	}
	for k := range attrs {
		if !slices.Contains(ruleAttrs, k) {
			a.Errorf("rules", "Rule %d has no attribute %q (it takes %s).", i, k, strings.Join(ruleAttrs, ", "))
		}
	}
	str := func(name, def string) (string, bool) {
		v, ok := attrs[name]
		if !ok || v.IsNull() {
			return def, true
		}
		switch v.Type() {
		case cty.String:
			return v.AsString(), true
		case cty.Number:
			return v.AsBigFloat().Text('f', -1), true
		case cty.Bool:
			return fmt.Sprint(v.True()), true
		}
		a.Errorf("rules", "Rule %d: %s must be a string.", i, name)
		return "", false
	}
	oneOf := func(name, def string, choices ...string) string {
		s, ok := str(name, def)
		if ok && !slices.Contains(choices, s) {
			a.Errorf("rules", "Rule %d: %s must be one of %q, not %q.", i, name, choices, s)
			return def
		}
		return s
	}

	d := decl{
		index:  i,
		action: oneOf("action", "allow", "allow", "deny", "reject", "limit"),
		proto:  oneOf("proto", "tcp", "tcp", "udp", "any"),
		port:   "any",
	}
	if pv, ok := attrs["port"]; ok && !pv.IsNull() {
		if pv.Type() == cty.Number {
			if n, acc := pv.AsBigFloat().Int64(); acc != big.Exact || n < 1 || n > 65535 {
				a.Errorf("rules", "Rule %d: port %s is not a port number (1-65535).", i, pv.AsBigFloat().Text('f', -1))
			}
		}
		if s, ok := str("port", ""); ok {
			p, err := normPorts(s)
			if err != nil {
				a.Errorf("rules", "Rule %d: %s.", i, err)
			} else {
				d.port = p
			}
		}
	}
	if multiPort(d.port) && d.proto == "any" {
		a.Errorf("rules", "Rule %d: a list or range of ports needs proto = \"tcp\" or \"udp\" (ufw requires it).", i)
	}
	if c, ok := str("comment", ""); ok {
		if strings.ContainsAny(c, "'\n\r") {
			a.Errorf("rules", "Rule %d: the comment must not contain a quote (') or a line break (ufw refuses them).", i)
		} else {
			d.comment = c
		}
	}

	froms := []string{"any"}
	if fv, ok := attrs["from"]; ok && !fv.IsNull() {
		switch {
		case fv.Type() == cty.String:
			froms = []string{fv.AsString()}
		case fv.Type().IsListType() || fv.Type().IsTupleType() || fv.Type().IsSetType():
			froms = nil
			for it := fv.ElementIterator(); it.Next(); {
				_, s := it.Element()
				if s.IsNull() || s.Type() != cty.String {
					a.Errorf("rules", "Rule %d: from must be a string or a list of strings.", i)
					continue
				}
				froms = append(froms, s.AsString())
			}
			if len(froms) == 0 {
				a.Errorf("rules", "Rule %d: from is an empty list: give at least one source, or leave it out for any.", i)
			}
		default:
			a.Errorf("rules", "Rule %d: from must be a string or a list of strings.", i)
			return nil
		}
	}
	var out []decl
	for _, f := range froms {
		src, err := ParseSource(strings.TrimSpace(f))
		if err != nil {
			a.Errorf("rules", "Rule %d: %s.", i, err)
			continue
		}
		dd := d
		dd.from = src
		out = append(out, dd)
	}
	return out
}

// rules returns the ufw rules d stands for: one per family for "any" (IPv6
// only when ipv6), one otherwise.
func (d decl) rules(ipv6 bool) []Rule {
	mk := func(v6 bool, src string) Rule {
		return Rule{V6: v6, Action: d.action, Proto: d.proto, DPort: d.port, Dst: anyAddr(v6),
			SPort: "any", Src: src, Iface: "in", Comment: d.comment}
	}
	if d.from.Any {
		out := []Rule{mk(false, anyAddr(false))}
		if ipv6 {
			out = append(out, mk(true, anyAddr(true)))
		}
		return out
	}
	return []Rule{mk(d.from.V6, d.from.Addr)}
}
