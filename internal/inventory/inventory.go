// Package inventory resolves a decoded inventory into hosts with their
// effective connection settings, groups and variables, and selects hosts by
// pattern (--limit, a play's hosts).
package inventory

import (
	"fmt"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/suggest"
)

// Host is one host with everything resolved.
type Host struct {
	Name    string
	Address string
	Groups  []string // in inventory order; always ends with "all"
	Conn    Conn
	// Explicit holds the connection fields the inventory sets (layered, nil
	// where no level sets one), so ~/.ssh/config can fill only the others.
	Explicit config.Conn
	// Vars are the inventory's variables for this host: defaults, then its
	// groups' in the order the group blocks appear, then its own.
	Vars map[string]cty.Value
	// VarFrom says which level set each of Vars, the one that won.
	VarFrom map[string]VarOrigin
}

// VarOrigin is where a host's variable was set: the level ("defaults",
// "group web", "host web1") and where its name is written.
type VarOrigin struct {
	Level string
	Range hcl.Range
}

// InGroup reports whether h belongs to group g.
func (h *Host) InGroup(g string) bool {
	for _, x := range h.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// Conn is a host's effective connection settings, and how many runs'
// backups it keeps.
type Conn struct {
	User       string
	Port       int
	PrivateKey string // absolute path, "" for ssh-agent only
	KnownHosts string // absolute path
	Become     bool
	Bastion    string
	// KeepRuns is how many runs' directories (journal and backups) the
	// host keeps under /var/lib/skiff/runs; apply prunes the older ones.
	KeepRuns int
}

// DefaultKeepRuns is KeepRuns where the inventory does not set keep_runs.
const DefaultKeepRuns = 10

// Inventory is the resolved set of hosts.
type Inventory struct {
	File   string
	Hosts  []*Host
	byName map[string]*Host
	groups map[string][]*Host
	order  []string // group names, declared blocks first, then first use
}

// New resolves cfg.
func New(cfg *config.Inventory) *Inventory {
	inv := &Inventory{File: cfg.File, byName: map[string]*Host{}, groups: map[string][]*Host{}}
	members := map[string]map[string]bool{}
	addOrder := func(g string) {
		if _, ok := members[g]; !ok {
			members[g] = map[string]bool{}
			inv.order = append(inv.order, g)
		}
	}
	for _, g := range cfg.Groups {
		if g.Name == "all" {
			continue
		}
		addOrder(g.Name)
		for _, h := range g.Hosts {
			members[g.Name][h] = true
		}
	}
	for _, h := range cfg.Hosts {
		for _, g := range h.Groups {
			addOrder(g)
			members[g][h.Name] = true
		}
	}
	for _, ch := range cfg.Hosts {
		h := &Host{Name: ch.Name, Address: ch.Address, Vars: map[string]cty.Value{}, VarFrom: map[string]VarOrigin{}}
		set := func(vars map[string]cty.Value, at map[string]hcl.Range, level string) {
			for k, v := range vars {
				h.Vars[k] = v
				h.VarFrom[k] = VarOrigin{Level: level, Range: at[k]}
			}
		}
		conn := cfg.Defaults
		set(cfg.Vars, cfg.VarsAt, "defaults")
		for _, g := range inv.order {
			if members[g][ch.Name] {
				h.Groups = append(h.Groups, g)
			}
		}
		for _, g := range cfg.Groups { // group blocks, in file order; "all" holds every host
			if members[g.Name][ch.Name] || g.Name == "all" {
				conn = conn.Over(g.Conn)
				set(g.Vars, g.VarsAt, "group "+g.Name)
			}
		}
		conn = conn.Over(ch.Conn)
		set(ch.Vars, ch.VarsAt, "host "+ch.Name)
		h.Groups = append(h.Groups, "all")
		h.Conn = resolveConn(cfg, conn)
		h.Explicit = conn
		inv.Hosts = append(inv.Hosts, h)
		inv.byName[h.Name] = h
		for _, g := range h.Groups {
			inv.groups[g] = append(inv.groups[g], h)
		}
	}
	return inv
}

func resolveConn(cfg *config.Inventory, c config.Conn) Conn {
	out := Conn{Port: 22, KnownHosts: cfg.Path("~/.ssh/known_hosts"), KeepRuns: DefaultKeepRuns}
	if c.User != nil {
		out.User = *c.User
	} else if u, err := user.Current(); err == nil {
		out.User = u.Username
	}
	if c.Port != nil {
		out.Port = *c.Port
	}
	if c.PrivateKey != nil {
		out.PrivateKey = cfg.Path(*c.PrivateKey)
	}
	if c.KnownHosts != nil {
		out.KnownHosts = cfg.Path(*c.KnownHosts)
	}
	if c.Become != nil {
		out.Become = *c.Become
	}
	if c.Bastion != nil {
		out.Bastion = *c.Bastion
	}
	if c.KeepRuns != nil {
		out.KeepRuns = *c.KeepRuns
	}
	return out
}

// Host returns the host named name, or nil.
func (inv *Inventory) Host(name string) *Host { return inv.byName[name] }

// Group returns the hosts of group g in inventory order.
func (inv *Inventory) Group(g string) []*Host { return inv.groups[g] }

// GroupNames returns every group name, "all" last.
func (inv *Inventory) GroupNames() []string {
	out := append([]string{}, inv.order...)
	return append(out, "all")
}

// Select returns the hosts a pattern names, in inventory order. A pattern is
// comma-separated terms: a host name, a group name, "all", or a shell glob
// over host names; "!term" excludes. Only exclusions means "all but".
// A term that matches nothing is an error: a typo must not silently deploy
// to fewer (or more) hosts than meant.
func (inv *Inventory) Select(pattern string) ([]*Host, error) {
	include := map[string]bool{}
	exclude := map[string]bool{}
	anyInclude := false
	for _, term := range strings.Split(pattern, ",") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		neg := strings.HasPrefix(term, "!")
		term = strings.TrimPrefix(term, "!")
		names, err := inv.match(term)
		if err != nil {
			return nil, err
		}
		target := include
		if neg {
			target = exclude
		} else {
			anyInclude = true
		}
		for _, n := range names {
			target[n] = true
		}
	}
	var out []*Host
	for _, h := range inv.Hosts {
		if (include[h.Name] || !anyInclude) && !exclude[h.Name] {
			out = append(out, h)
		}
	}
	return out, nil
}

func (inv *Inventory) match(term string) ([]string, error) {
	var names []string
	if hs, ok := inv.groups[term]; ok {
		for _, h := range hs {
			names = append(names, h.Name)
		}
		return names, nil
	}
	if _, ok := inv.byName[term]; ok {
		return []string{term}, nil
	}
	if strings.ContainsAny(term, "*?[") {
		for _, h := range inv.Hosts {
			if ok, _ := filepath.Match(term, h.Name); ok {
				names = append(names, h.Name)
			}
		}
		if len(names) > 0 {
			return names, nil
		}
	}
	candidates := inv.GroupNames()
	for _, h := range inv.Hosts {
		candidates = append(candidates, h.Name)
	}
	hint := ""
	if near := suggest.Nearest(term, candidates); near != "" {
		hint = fmt.Sprintf("did you mean %q? ", near)
	}
	return nil, fmt.Errorf("%q names no host or group of %s (%sgroups: %s)", term, inv.File, hint, strings.Join(inv.GroupNames(), ", "))
}

// Intersect keeps the hosts of a that are also in b.
func Intersect(a, b []*Host) []*Host {
	in := map[*Host]bool{}
	for _, h := range b {
		in[h] = true
	}
	var out []*Host
	for _, h := range a {
		if in[h] {
			out = append(out, h)
		}
	}
	return out
}
