package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
)

// checkSystem fails host when a kind its plays use cannot serve its system
// (module.Kind.Serves), naming the host, its os_id and the first task of
// that kind: this runs as the facts are read, before any change.
func (e *Engine) checkSystem(host string, facts cty.Value) error {
	if len(e.Serves) == 0 {
		return nil
	}
	sys := systemOf(facts)
	for _, kind := range e.sortedServes() {
		task := e.firstTaskOfKind(host, kind)
		if task == "" {
			continue
		}
		if err := e.Serves[kind](sys); err != nil {
			like := ""
			if len(sys.Like) > 0 {
				like = fmt.Sprintf(", os_like %q", strings.Join(sys.Like, " "))
			}
			return fmt.Errorf("%s runs os_id %q%s: %s cannot run there: %v; nothing was changed on it", host, sys.ID, like, task, err)
		}
	}
	return nil
}

// systemOf reads os_id and os_like from facts.
func systemOf(facts cty.Value) module.System {
	var s module.System
	if !facts.Type().IsObjectType() {
		return s
	}
	get := func(k string) string {
		if !facts.Type().HasAttribute(k) {
			return ""
		}
		v := facts.GetAttr(k)
		if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
			return ""
		}
		return v.AsString()
	}
	s.ID = get("os_id")
	s.Like = strings.Fields(get("os_like"))
	return s
}

func (e *Engine) sortedServes() []string {
	kinds := make([]string, 0, len(e.Serves))
	for k := range e.Serves {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// firstTaskOfKind names the first task or handler of kind in the plays
// that run on host ("play web, role nginx: package.nginx"), or "".
func (e *Engine) firstTaskOfKind(host string, kind string) string {
	for _, p := range e.Playbook.Plays {
		if !e.playHosts(p)[host] {
			continue
		}
		for _, rn := range p.Roles {
			r := e.Playbook.Roles[rn]
			if r == nil {
				continue
			}
			for _, t := range slices.Concat(e.tasksOf(p, r), r.Handlers) {
				if t.Kind == kind {
					return fmt.Sprintf("play %s, role %s: %s", p.Name, rn, t.ID())
				}
			}
		}
	}
	return ""
}
