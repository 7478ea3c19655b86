package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
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
	// Serial is the batch sizes: [] = all hosts at once; [1, 5] = one host
	// first (a canary), then 5 at a time (the last size repeats).
	Serial  []int
	MaxFail int // failed hosts tolerated before the play stops; -1 = no limit
	Range   hcl.Range
	// Tags are given to every task of the play; RoleTags to every task
	// of a role in this play (roles = [{ name = "nginx", tags = [...] }]).
	Tags     []string
	RoleTags map[string][]string
	// BecomeUser is the user the play's tasks run as, where their kind
	// can (a task's own become_user wins); "" is root.
	BecomeUser string
	// After, when set, names the earlier plays this one waits for; it
	// waits too for every earlier play that shares a host with it (see
	// engine's schedule). Unset (nil): it waits for every earlier play.
	After      []string
	AfterRange hcl.Range
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
			diags = append(diags, errAt(b.LabelRanges[0], "Duplicate play", fmt.Sprintf("Play %q was already declared at %s.", p.Name, l.at(prev))))
			continue
		}
		seen[p.Name] = b.DefRange
		pc, d := b.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
			{Name: "hosts"}, {Name: "roles"},
			{Name: "vars"}, {Name: "serial"}, {Name: "max_fail"},
			{Name: "tags"}, {Name: "become_user"}, {Name: "after"},
		}})
		diags = append(diags, d...)
		if a, ok := pc.Attributes["hosts"]; ok {
			diags = append(diags, decodeArg("hosts", a.Expr, &p.Hosts, "a host selection, such as \"web\" or \"all,!db2\"")...)
			p.HostsRange = a.Expr.Range()
		}
		for _, req := range []struct{ name, example string }{{"hosts", `hosts = "web"`}, {"roles", `roles = ["nginx"]`}} {
			if _, ok := pc.Attributes[req.name]; !ok {
				diags = append(diags, errAt(b.DefRange, "Missing "+req.name, fmt.Sprintf("Play %q needs %s, such as %s.", p.Name, req.name, req.example)))
			}
		}
		if a, ok := pc.Attributes["roles"]; ok {
			var d hcl.Diagnostics
			p.Roles, p.RoleTags, d = decodePlayRoles(a.Expr)
			diags = append(diags, d...)
			p.RolesRange = a.Expr.Range()
		}
		if a, ok := pc.Attributes["become_user"]; ok {
			var d hcl.Diagnostics
			p.BecomeUser, d = decodePlayBecomeUser(a.Expr)
			diags = append(diags, d...)
		}
		if a, ok := pc.Attributes["tags"]; ok {
			var d hcl.Diagnostics
			p.Tags, d = decodeTags(a.Expr)
			diags = append(diags, d...)
		}
		if a, ok := pc.Attributes["vars"]; ok {
			v, d := decodeVars(a.Expr)
			diags = append(diags, d...)
			p.Vars = v
		}
		if a, ok := pc.Attributes["serial"]; ok {
			v, d := a.Expr.Value(nil)
			diags = append(diags, d...)
			if !d.HasErrors() {
				p.Serial, d = decodeSerial(v, a.Expr.Range())
				diags = append(diags, d...)
			}
		}
		if a, ok := pc.Attributes["after"]; ok {
			diags = append(diags, decodeAfter(a.Expr, p, seen)...)
		}
		if a, ok := pc.Attributes["max_fail"]; ok {
			d := decodeArg("max_fail", a.Expr, &p.MaxFail, "a whole number of failed hosts (-1: no limit)")
			diags = append(diags, d...)
			if !d.HasErrors() && p.MaxFail < -1 {
				diags = append(diags, errAt(a.Expr.Range(), "Invalid max_fail", "max_fail is how many failed hosts the play tolerates: 0 or more, or -1 for no limit."))
			}
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
	for _, p := range pb.Plays {
		diags = append(diags, checkIfChanged(pb, p)...)
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

// decodeAfter reads after: a list of the names of earlier plays (seen
// holds those declared so far), each once.
func decodeAfter(expr hcl.Expression, p *Play, seen map[string]hcl.Range) hcl.Diagnostics {
	p.AfterRange = expr.Range()
	var names []string
	if d := decodeArg("after", expr, &names, "a list of the names of earlier plays, such as [\"firewall\"]"); d.HasErrors() {
		return d
	}
	p.After = []string{}
	for _, n := range names {
		switch _, earlier := seen[n]; {
		case n == p.Name:
			return hcl.Diagnostics{errAt(expr.Range(), "Invalid after", fmt.Sprintf("Play %q cannot run after itself.", p.Name))}
		case !earlier:
			return hcl.Diagnostics{errAt(expr.Range(), "Invalid after", fmt.Sprintf("Play %q runs after %q, which is not a play declared before it: plays wait only for earlier ones.", p.Name, n))}
		case slices.Contains(p.After, n):
			return hcl.Diagnostics{errAt(expr.Range(), "Invalid after", fmt.Sprintf("Play %q names %q twice in after.", p.Name, n))}
		}
		p.After = append(p.After, n)
	}
	return nil
}

// decodeSerial reads serial: a number or a list of numbers, each ≥ 1
// (0 alone means all hosts at once).
func decodeSerial(v cty.Value, rng hcl.Range) ([]int, hcl.Diagnostics) {
	bad := hcl.Diagnostics{errAt(rng, "Invalid serial", "serial is hosts per batch: a number (0 = all at once), or a list such as [1, 5] (a canary of 1, then 5 at a time).")}
	if v.IsNull() {
		return nil, nil // unset: all hosts at once
	}
	var nums []cty.Value
	switch {
	case !v.IsWhollyKnown() || v.ContainsMarked() || v.Type().IsMapType() || v.Type().IsObjectType():
		return nil, bad
	case v.Type() == cty.Number:
		nums = []cty.Value{v}
	case v.CanIterateElements():
		nums = v.AsValueSlice()
	default:
		return nil, bad
	}
	var out []int
	for _, n := range nums {
		if n.Type() != cty.Number || n.IsNull() {
			return nil, bad
		}
		i, acc := n.AsBigFloat().Int64()
		if acc != 0 || i < 0 || (i == 0 && len(nums) > 1) {
			return nil, bad
		}
		if i > 0 {
			out = append(out, int(i))
		}
	}
	return out, nil
}

// checkIfChanged reports if_changed references that name no task of the play.
func checkIfChanged(pb *Playbook, p *Play) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, rn := range p.Roles {
		r := pb.Roles[rn]
		if r == nil {
			continue
		}
		for _, t := range r.Tasks {
			for i, ref := range t.IfChanged {
				at := elemRange(t.ifChangedExpr, i, t.IfChangedRange)
				refs, ok := ResolveRef(pb, p, rn, ref)
				if !ok {
					diags = append(diags, errAt(at, "Unknown task reference",
						fmt.Sprintf("Task %s: %q names no task of play %q (write \"kind.name\", \"role/kind.name\", \"kind.name[\\\"key\\\"]\" or a role name).", t.ID(), ref, p.Name)))
					continue
				}
				if _, _, hasKey, _ := SplitInstance(ref); hasKey && refs[0].ForEach == nil {
					diags = append(diags, errAt(at, "Invalid task reference",
						fmt.Sprintf("Task %s: %q names an instance, but %s has no for_each.", t.ID(), ref, refs[0].ID())))
				}
			}
		}
	}
	return diags
}

// ResolveRef returns the tasks an if_changed reference names, seen from a
// task of role in play p.
func ResolveRef(pb *Playbook, p *Play, role, ref string) ([]*Task, bool) {
	inPlay := func(name string) *Role {
		for _, rn := range p.Roles {
			if rn == name {
				return pb.Roles[rn]
			}
		}
		return nil
	}
	ref, _, hasKey, ok := SplitInstance(ref)
	if !ok || (hasKey && !strings.Contains(ref, ".")) {
		return nil, false
	}
	roleName, taskID, hasRole := strings.Cut(ref, "/")
	if !hasRole {
		if !strings.Contains(ref, ".") { // a role name
			if r := inPlay(ref); r != nil {
				return r.Tasks, true
			}
			return nil, false
		}
		roleName, taskID = role, ref
	}
	r := inPlay(roleName)
	if r == nil {
		return nil, false
	}
	for _, t := range r.Tasks {
		if t.ID() == taskID {
			return []*Task{t}, true
		}
	}
	return nil, false
}
