package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Conn holds the per-host settings of defaults, group and host blocks: how
// to connect, and how many runs' backups the host keeps. Nil fields are
// unset at that level, so defaults, groups and hosts layer on each other
// (host wins).
type Conn struct {
	User       *string `hcl:"user"`
	Port       *int    `hcl:"port"`
	PrivateKey *string `hcl:"private_key"`
	KnownHosts *string `hcl:"known_hosts"`
	Become     *bool   `hcl:"become"`
	Bastion    *string `hcl:"bastion"`
	KeepRuns   *int    `hcl:"keep_runs"`
}

// Over returns c with every field that o sets replaced by o's.
func (c Conn) Over(o Conn) Conn {
	if o.User != nil {
		c.User = o.User
	}
	if o.Port != nil {
		c.Port = o.Port
	}
	if o.PrivateKey != nil {
		c.PrivateKey = o.PrivateKey
	}
	if o.KnownHosts != nil {
		c.KnownHosts = o.KnownHosts
	}
	if o.Become != nil {
		c.Become = o.Become
	}
	if o.Bastion != nil {
		c.Bastion = o.Bastion
	}
	if o.KeepRuns != nil {
		c.KeepRuns = o.KeepRuns
	}
	return c
}

// Group is a group block. Hosts join groups from their own `groups` list or
// from the group's `hosts` list; a group needs no block to exist.
type Group struct {
	Name   string
	Hosts  []string
	Vars   map[string]cty.Value
	VarsAt map[string]hcl.Range // where each of Vars is written
	Conn   Conn
	Range  hcl.Range

	hostsExpr hcl.Expression // for diagnostics at one name of the list
}

// Host is a host block.
type Host struct {
	Name    string
	Address string
	Groups  []string
	Vars    map[string]cty.Value
	VarsAt  map[string]hcl.Range // where each of Vars is written
	Conn    Conn
	Range   hcl.Range
}

// Secret is a secret block: its value comes from an environment variable, a
// file or an entry of an age-encrypted file, never from the inventory itself.
// Exactly one of Env, File and Age is set.
type Secret struct {
	Name string
	Env  string
	File string
	// Age is an age-encrypted file of name=value lines; Key is the entry
	// (default: Name); Identity is the age identity file ("" = default,
	// see AgeIdentityPath).
	Age      string
	Key      string
	Identity string
	Range    hcl.Range
}

// Inventory is a decoded inventory file.
type Inventory struct {
	File     string
	Dir      string
	Defaults Conn
	Vars     map[string]cty.Value // defaults { vars = {…} }
	VarsAt   map[string]hcl.Range // where each of Vars is written
	Groups   []*Group
	Hosts    []*Host
	Secrets  []*Secret

	ages map[ageSource]*ageResult // decrypted age files, one per source per command
}

var inventorySchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "defaults"},
		{Type: "group", LabelNames: []string{"name"}},
		{Type: "host", LabelNames: []string{"name"}},
		{Type: "secret", LabelNames: []string{"name"}},
	},
}

// LoadInventory decodes the inventory at path.
func (l *Loader) LoadInventory(path string) (*Inventory, hcl.Diagnostics) {
	f, diags := l.parse(path, "inventory")
	if diags.HasErrors() {
		return nil, diags
	}
	abs, _ := filepath.Abs(path)
	inv := &Inventory{File: path, Dir: filepath.Dir(abs), Vars: map[string]cty.Value{}}
	content, d := f.Body.Content(inventorySchema)
	diags = append(diags, d...)

	seenHost := map[string]hcl.Range{}
	seenGroup := map[string]hcl.Range{}
	seenSecret := map[string]hcl.Range{}
	defaultsSeen := false
	for _, b := range content.Blocks {
		switch b.Type {
		case "defaults":
			if defaultsSeen {
				diags = append(diags, errAt(b.DefRange, "Duplicate defaults block", "An inventory has at most one defaults block."))
				continue
			}
			defaultsSeen = true
			conn, vars, d := decodeConnBlock(b.Body, nil)
			diags = append(diags, d...)
			inv.Defaults, inv.Vars, inv.VarsAt = conn, vars, varRanges(b.Body)
		case "group":
			name := b.Labels[0]
			if prev, ok := seenGroup[name]; ok {
				diags = append(diags, errAt(b.LabelRanges[0], "Duplicate group", fmt.Sprintf("Group %q was already declared at %s.", name, l.at(prev))))
				continue
			}
			seenGroup[name] = b.DefRange
			g := &Group{Name: name, Range: b.DefRange}
			extra := []hcl.AttributeSchema{{Name: "hosts"}}
			conn, vars, d := decodeConnBlock(b.Body, extra)
			diags = append(diags, d...)
			g.Conn, g.Vars, g.VarsAt = conn, vars, varRanges(b.Body)
			if attr, ok := attrsOf(b.Body)["hosts"]; ok {
				diags = append(diags, decodeArg("hosts", attr.Expr, &g.Hosts, "a list of host names")...)
				g.hostsExpr = attr.Expr
			}
			inv.Groups = append(inv.Groups, g)
		case "host":
			name := b.Labels[0]
			if prev, ok := seenHost[name]; ok {
				diags = append(diags, errAt(b.LabelRanges[0], "Duplicate host", fmt.Sprintf("Host %q was already declared at %s.", name, l.at(prev))))
				continue
			}
			seenHost[name] = b.DefRange
			h := &Host{Name: name, Range: b.DefRange}
			extra := []hcl.AttributeSchema{{Name: "address"}, {Name: "groups"}}
			conn, vars, d := decodeConnBlock(b.Body, extra)
			diags = append(diags, d...)
			h.Conn, h.Vars, h.VarsAt = conn, vars, varRanges(b.Body)
			attrs := attrsOf(b.Body)
			if a, ok := attrs["address"]; ok {
				d := decodeArg("address", a.Expr, &h.Address, "an IP address or DNS name")
				diags = append(diags, d...)
				if !d.HasErrors() && strings.TrimSpace(h.Address) == "" {
					diags = append(diags, errAt(a.Expr.Range(), "Empty address", fmt.Sprintf("Host %q needs an address (IP or DNS name).", name)))
				}
			} else {
				diags = append(diags, errAt(b.DefRange, "Missing address", fmt.Sprintf("Host %q needs an address (IP or DNS name): address = \"10.0.0.5\".", name)))
			}
			if a, ok := attrs["groups"]; ok {
				diags = append(diags, decodeArg("groups", a.Expr, &h.Groups, "a list of group names")...)
			}
			inv.Hosts = append(inv.Hosts, h)
		case "secret":
			name := b.Labels[0]
			if prev, ok := seenSecret[name]; ok {
				diags = append(diags, errAt(b.LabelRanges[0], "Duplicate secret", fmt.Sprintf("Secret %q was already declared at %s.", name, l.at(prev))))
				continue
			}
			seenSecret[name] = b.DefRange
			sec, d := decodeSecret(b)
			diags = append(diags, d...)
			inv.Secrets = append(inv.Secrets, sec)
		}
	}
	// Group blocks' host lists must name declared hosts.
	for _, g := range inv.Groups {
		for i, hn := range g.Hosts {
			if _, ok := seenHost[hn]; !ok {
				diags = append(diags, errAt(elemRange(g.hostsExpr, i, g.Range), "Unknown host", fmt.Sprintf("Group %q lists host %q, which no host block declares.", g.Name, hn)))
			}
		}
	}
	if len(inv.Hosts) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No hosts", Detail: "The inventory declares no host blocks.", Subject: &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}})
	}
	return inv, diags
}

// decodeSecret decodes a secret block: exactly one of env, file and age;
// key and identity only with age.
func decodeSecret(b *hcl.Block) (*Secret, hcl.Diagnostics) {
	name := b.Labels[0]
	var s struct {
		Env      *string `hcl:"env"`
		File     *string `hcl:"file"`
		Age      *string `hcl:"age"`
		Key      *string `hcl:"key"`
		Identity *string `hcl:"identity"`
	}
	diags := gohcl.DecodeBody(b.Body, nil, &s)
	sec := &Secret{Name: name, Range: b.DefRange}
	if diags.HasErrors() {
		return sec, diags
	}
	var set []string
	for _, f := range []struct {
		arg string
		val *string
		dst *string
	}{{"env", s.Env, &sec.Env}, {"file", s.File, &sec.File}, {"age", s.Age, &sec.Age}, {"key", s.Key, &sec.Key}, {"identity", s.Identity, &sec.Identity}} {
		if f.val == nil {
			continue
		}
		if *f.val == "" {
			diags = append(diags, errAt(b.DefRange, "Invalid secret", fmt.Sprintf("Secret %q: %s is empty.", name, f.arg)))
			continue
		}
		*f.dst = *f.val
		if f.arg != "key" && f.arg != "identity" {
			set = append(set, f.arg)
		}
	}
	switch {
	case diags.HasErrors():
	case len(set) == 0:
		diags = append(diags, errAt(b.DefRange, "Invalid secret", fmt.Sprintf("Secret %q needs one of env, file or age, such as env = \"MY_PASSWORD\".", name)))
	case len(set) > 1:
		diags = append(diags, errAt(b.DefRange, "Invalid secret", fmt.Sprintf("Secret %q sets %s: it needs exactly one of env, file or age.", name, strings.Join(set, " and "))))
	case sec.Age == "" && (sec.Key != "" || sec.Identity != ""):
		diags = append(diags, errAt(b.DefRange, "Invalid secret", fmt.Sprintf("Secret %q: key and identity apply only to an age secret (age = \"secrets.age\").", name)))
	}
	if sec.Age != "" && sec.Key == "" {
		sec.Key = name
	}
	return sec, diags
}

// decodeConnBlock decodes the connection fields and vars of a defaults,
// group or host block; extra names the block's own further attributes.
func decodeConnBlock(body hcl.Body, extra []hcl.AttributeSchema) (Conn, map[string]cty.Value, hcl.Diagnostics) {
	schema := &hcl.BodySchema{Attributes: append([]hcl.AttributeSchema{
		{Name: "user"}, {Name: "port"}, {Name: "private_key"}, {Name: "known_hosts"},
		{Name: "become"}, {Name: "bastion"}, {Name: "keep_runs"}, {Name: "vars"},
	}, extra...)}
	content, diags := body.Content(schema)
	var c Conn
	decode := func(name string, target any, want string) {
		if a, ok := content.Attributes[name]; ok {
			diags = append(diags, decodeArg(name, a.Expr, target, want)...)
		}
	}
	decode("user", &c.User, "a user name")
	decode("port", &c.Port, "a number from 1 to 65535")
	decode("private_key", &c.PrivateKey, "the path of a key file")
	decode("known_hosts", &c.KnownHosts, "the path of a known_hosts file")
	decode("become", &c.Become, "true or false")
	decode("bastion", &c.Bastion, "a jump host, \"user@host:port\"")
	decode("keep_runs", &c.KeepRuns, "a number of runs, 1 or more")
	if c.Port != nil && (*c.Port < 1 || *c.Port > 65535) {
		diags = append(diags, errAt(content.Attributes["port"].Expr.Range(), "Invalid port", fmt.Sprintf("%d is not a TCP port (1-65535).", *c.Port)))
	}
	if c.KeepRuns != nil && *c.KeepRuns < 1 {
		diags = append(diags, errAt(content.Attributes["keep_runs"].Expr.Range(), "Invalid keep_runs",
			fmt.Sprintf("keep_runs = %d: a host keeps the backups of at least the run under way (1 or more).", *c.KeepRuns)))
	}
	vars := map[string]cty.Value{}
	if a, ok := content.Attributes["vars"]; ok {
		v, d := decodeVars(a.Expr)
		diags = append(diags, d...)
		vars = v
	}
	return c, vars, diags
}

// varRanges is where each name of a block's `vars = { … }` is written: its
// key, or the whole expression when it is not written out as an object
// (sensitive({…}), say).
func varRanges(body hcl.Body) map[string]hcl.Range {
	at := map[string]hcl.Range{}
	a, ok := attrsOf(body)["vars"]
	if !ok {
		return at
	}
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		v, _ := decodeVars(a.Expr)
		for k := range v {
			at[k] = a.Expr.Range()
		}
		return at
	}
	for _, item := range obj.Items {
		k, d := item.KeyExpr.Value(nil)
		if d.HasErrors() || k.IsNull() || !k.IsKnown() || k.Type() != cty.String {
			continue
		}
		at[k.AsString()] = item.KeyExpr.Range()
	}
	return at
}

// decodeVars evaluates a `vars = { … }` object of literal values.
func decodeVars(expr hcl.Expression) (map[string]cty.Value, hcl.Diagnostics) {
	v, diags := expr.Value(Functions())
	if diags.HasErrors() {
		return nil, diags
	}
	if v.IsNull() {
		return map[string]cty.Value{}, nil
	}
	// sensitive({…}) marks the whole object: unmark it, mark each value.
	v, marks := v.Unmark()
	if !v.IsKnown() || (!v.Type().IsObjectType() && !v.Type().IsMapType()) {
		return nil, hcl.Diagnostics{errAt(expr.Range(), "Invalid vars", fmt.Sprintf("vars must be an object, such as { app_port = 8080 }, not %s.", describe(v)))}
	}
	out := map[string]cty.Value{}
	for k, e := range v.AsValueMap() {
		out[k] = e.WithMarks(marks)
	}
	return out, nil
}

// attrsOf returns a block body's attributes, ignoring errors (already reported).
func attrsOf(body hcl.Body) hcl.Attributes {
	attrs, _ := body.JustAttributes()
	return attrs
}

func errAt(r hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()}
}
