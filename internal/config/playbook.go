package config

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
)

// Play is a play block: roles applied, in order, to the hosts a pattern selects.
type Play struct {
	Name       string
	Hosts      string // a selection, as --limit: "web", "web1,web2", "all,!db2"
	HostsRange hcl.Range
	Roles      []string
	RolesRange hcl.Range
	Vars       map[string]cty.Value
	Serial     int // hosts per batch; 0 = all at once
	MaxFail    int // failed hosts tolerated before the play stops; -1 = no limit
	Range      hcl.Range
}

// Playbook is a decoded playbook with the roles it uses.
type Playbook struct {
	File  string
	Plays []*Play
	Roles map[string]*Role
}

var playbookSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "play", LabelNames: []string{"name"}}},
}

// RoleSearchPath is where roles are looked for, in order: roles/ beside the
// playbook's folder, roles/ beside the playbook, then extra.
func RoleSearchPath(playbook string, extra []string) []string {
	abs, _ := filepath.Abs(playbook)
	dir := filepath.Dir(abs)
	return append([]string{filepath.Join(dir, "..", "roles"), filepath.Join(dir, "roles")}, extra...)
}

// LoadPlaybook decodes the playbook at path and the roles it names.
func (l *Loader) LoadPlaybook(path string, rolesPath []string, kinds map[string]bool) (*Playbook, hcl.Diagnostics) {
	f, diags := l.parse(path, "playbook")
	if diags.HasErrors() {
		return nil, diags
	}
	pb := &Playbook{File: path, Roles: map[string]*Role{}}
	content, d := f.Body.Content(playbookSchema)
	diags = append(diags, d...)
	search := RoleSearchPath(path, rolesPath)
	seen := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		p := &Play{Name: b.Labels[0], Range: b.DefRange, MaxFail: -1}
		if prev, ok := seen[p.Name]; ok {
			diags = append(diags, errAt(b.LabelRanges[0], "Duplicate play", fmt.Sprintf("Play %q was already declared at %s.", p.Name, prev)))
			continue
		}
		seen[p.Name] = b.DefRange
		pc, d := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
			{Name: "hosts", Required: true}, {Name: "roles", Required: true},
			{Name: "vars"}, {Name: "serial"}, {Name: "max_fail"},
		}})
		diags = append(diags, d...)
		if a, ok := pc.Attributes["hosts"]; ok {
			diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &p.Hosts)...)
			p.HostsRange = a.Expr.Range()
		}
		if a, ok := pc.Attributes["roles"]; ok {
			diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &p.Roles)...)
			p.RolesRange = a.Expr.Range()
		}
		if a, ok := pc.Attributes["vars"]; ok {
			v, d := decodeVars(a.Expr)
			diags = append(diags, d...)
			p.Vars = v
		}
		if a, ok := pc.Attributes["serial"]; ok {
			diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &p.Serial)...)
			if p.Serial < 0 {
				diags = append(diags, errAt(a.Expr.Range(), "Invalid serial", "serial is the number of hosts per batch: 0 (all at once) or more."))
			}
		}
		if a, ok := pc.Attributes["max_fail"]; ok {
			diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &p.MaxFail)...)
		}
		for _, rn := range p.Roles {
			if _, ok := pb.Roles[rn]; ok {
				continue
			}
			dir, ok := FindRole(rn, search)
			if !ok {
				diags = append(diags, errAt(p.RolesRange, "Missing role", fmt.Sprintf("Role %q was not found; looked for %s/role.hcl in %s.", rn, rn, strings.Join(search, ", "))))
				continue
			}
			r, d := l.LoadRole(rn, dir, kinds)
			diags = append(diags, d...)
			if r != nil {
				pb.Roles[rn] = r
			}
		}
		pb.Plays = append(pb.Plays, p)
	}
	if len(pb.Plays) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No plays", Detail: "The playbook declares no play blocks.", Subject: &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}})
	}
	return pb, diags
}

func sortedKeys(m map[string]bool) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
