package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/suggest"
)

// A tag is a word: letters, digits, and _ . - after the first.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

const tagRule = "a word of letters, digits, _, . and -, such as \"tls\""

// decodeTags reads a tags argument: a list of tags (or one).
func decodeTags(expr hcl.Expression) ([]string, hcl.Diagnostics) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return nil, diags
	}
	tags, ok := stringList(v, true)
	if !ok {
		return nil, hcl.Diagnostics{errAt(expr.Range(), "Invalid tags", fmt.Sprintf("tags is a list of tags, each %s; not %s.", tagRule, describe(v)))}
	}
	for i, tag := range tags {
		if !tagPattern.MatchString(tag) {
			diags = append(diags, errAt(elemRange(expr, i, expr.Range()), "Invalid tag", fmt.Sprintf("%q is not a tag: a tag is %s.", tag, tagRule)))
		}
	}
	return tags, diags
}

// decodePlayRoles reads a play's roles: a list whose elements are role
// names, or objects { name = "ROLE", tags = [...] } that give the role
// tags in this play. tags maps role names to the tags given them.
func decodePlayRoles(expr hcl.Expression) (names []string, tags map[string][]string, diags hcl.Diagnostics) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return nil, nil, diags
	}
	want := `a list of role names, each a string or { name = "ROLE", tags = ["TAG"] }`
	if v.IsNull() || !v.IsWhollyKnown() || !(v.Type().IsListType() || v.Type().IsTupleType()) {
		return nil, nil, hcl.Diagnostics{errAt(expr.Range(), "Invalid roles", fmt.Sprintf("roles must be %s, not %s.", want, describe(v)))}
	}
	for i, e := range v.AsValueSlice() {
		at := elemRange(expr, i, expr.Range())
		switch {
		case !e.IsNull() && e.Type() == cty.String:
			names = append(names, e.AsString())
			continue
		case e.IsNull() || !(e.Type().IsObjectType() || e.Type().IsMapType()):
			diags = append(diags, errAt(at, "Invalid roles", fmt.Sprintf("roles must be %s; element %d is %s.", want, i+1, describe(e))))
			continue
		}
		var name string
		var roleTags []string
		bad := false
		for it := e.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			switch k.AsString() {
			case "name":
				if ev.IsNull() || ev.Type() != cty.String || ev.AsString() == "" {
					bad = true
					continue
				}
				name = ev.AsString()
			case "tags":
				t, ok := stringList(ev, true)
				if !ok {
					bad = true
					continue
				}
				for _, tag := range t {
					if !tagPattern.MatchString(tag) {
						diags = append(diags, errAt(at, "Invalid tag", fmt.Sprintf("%q is not a tag: a tag is %s.", tag, tagRule)))
					}
				}
				roleTags = t
			default:
				diags = append(diags, errAt(at, "Invalid roles", fmt.Sprintf("A role of a play takes name and tags, not %q.%s", k.AsString(), suggest.DidYouMean(k.AsString(), []string{"name", "tags"}))))
			}
		}
		if bad || name == "" {
			diags = append(diags, errAt(at, "Invalid roles", `A role given as an object needs a name (a string) and may have tags (a list of strings): { name = "nginx", tags = ["web"] }.`))
			continue
		}
		names = append(names, name)
		if len(roleTags) > 0 {
			if tags == nil {
				tags = map[string][]string{}
			}
			tags[name] = append(tags[name], roleTags...)
		}
	}
	return names, tags, diags
}

// TaskTags are t's tags in play p: its own, its role's in p, and p's.
func (p *Play) TaskTags(t *Task) []string {
	return slices.Concat(t.Tags, p.RoleTags[t.Role], p.Tags)
}

// TagFilter selects the tasks a run runs by their tags: --tags and
// --skip-tags.
type TagFilter struct {
	Only []string // when set, only tasks with one of these tags
	Skip []string // tasks with one of these tags never run
}

// IsZero reports whether f selects every task.
func (f TagFilter) IsZero() bool { return len(f.Only) == 0 && len(f.Skip) == 0 }

// Selects reports whether the run runs task t in play p. Handlers are not
// selected by tags: they run when a task that ran notifies them.
func (f TagFilter) Selects(p *Play, t *Task) bool {
	if f.IsZero() {
		return true
	}
	tags := p.TaskTags(t)
	for _, s := range f.Skip {
		if slices.Contains(tags, s) {
			return false
		}
	}
	if len(f.Only) == 0 {
		return true
	}
	for _, o := range f.Only {
		if slices.Contains(tags, o) {
			return true
		}
	}
	return false
}

// Tags are every tag the playbook gives, to tasks, to roles in its plays,
// or to plays, sorted.
func (pb *Playbook) Tags() []string {
	set := map[string]bool{}
	for _, p := range pb.Plays {
		for _, tag := range p.Tags {
			set[tag] = true
		}
		for _, ts := range p.RoleTags {
			for _, tag := range ts {
				set[tag] = true
			}
		}
		for _, rn := range p.Roles {
			if r := pb.Roles[rn]; r != nil {
				for _, t := range r.Tasks {
					for _, tag := range t.Tags {
						set[tag] = true
					}
				}
			}
		}
	}
	return suggest.Keys(set)
}

// CheckTags returns an error naming the first tag of f that the playbook
// gives nowhere (flag is how the user gave it: "--tags"): a misspelt tag
// would otherwise select nothing, or skip nothing, in silence.
func (pb *Playbook) CheckTags(f TagFilter) error {
	known := pb.Tags()
	for _, set := range []struct {
		flag string
		tags []string
	}{{"--tags", f.Only}, {"--skip-tags", f.Skip}} {
		for _, tag := range set.tags {
			if slices.Contains(known, tag) {
				continue
			}
			list := "it gives no tags"
			if len(known) > 0 {
				sort.Strings(known)
				list = "its tags: " + strings.Join(known, ", ")
			}
			return fmt.Errorf("%s %s: no task, role or play of %s has this tag (%s).%s", set.flag, tag, pb.File, list, suggest.DidYouMean(tag, known))
		}
	}
	return nil
}
