package config

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// AnySecret is the SecretUse key of an expression that reads secret
// without naming one (secret[key], secret passed whole), or of a template
// that cannot be read: any secret may be needed.
const AnySecret = ""

// SecretUse maps each secret the role's tasks, handlers and templates read
// (as secret.NAME or secret["NAME"]) to the first place that reads it, for
// an error that says who needs a secret that cannot be read: `task
// template.env (roles/app/role.hcl:40:1)`. A template rendered by a task
// of a fixed source counts as that task's; any other template under
// templates/ counts as itself. Nothing is evaluated.
func (r *Role) SecretUse() map[string]string {
	use := map[string]string{}
	add := func(name, who string) {
		if _, ok := use[name]; !ok {
			use[name] = who
		}
	}
	taskAt := func(t *Task) string {
		return fmt.Sprintf("task %s (%s:%d:%d)", t.ID(), t.Range.Filename, t.Range.Start.Line, t.Range.Start.Column)
	}
	templates := filepath.Join(r.Dir, "templates")
	renderedBy := map[string]*Task{}
	for _, t := range append(append([]*Task{}, r.Tasks...), r.Handlers...) {
		for _, name := range sortedAttrNames(t.Attrs) {
			secretsRead(t.Attrs[name].Expr, func(n string) { add(n, taskAt(t)) })
		}
		secretsRead(t.When, func(n string) { add(n, taskAt(t)) })
		secretsRead(t.DelegateTo, func(n string) { add(n, taskAt(t)) })
		secretsRead(t.BecomeUser, func(n string) { add(n, taskAt(t)) })
		secretsRead(t.ForEach, func(n string) { add(n, taskAt(t)) })
		if p, ok := templateSource(t, templates); ok {
			if _, seen := renderedBy[p]; !seen {
				renderedBy[p] = t
			}
		}
	}
	readTemplate := func(p, who string) {
		expr, ok := parseTemplateFile(p)
		if !ok {
			add(AnySecret, who)
			return
		}
		secretsRead(expr, func(n string) { add(n, who) })
	}
	var files []string
	_ = filepath.WalkDir(templates, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	for p := range renderedBy {
		if !strings.HasPrefix(p, templates+string(filepath.Separator)) {
			files = append(files, p)
		}
	}
	sort.Strings(files)
	for _, p := range files {
		who := fmt.Sprintf("template %s of role %q", p, r.Name)
		if t, ok := renderedBy[p]; ok {
			who = taskAt(t)
		}
		readTemplate(p, who)
	}
	return use
}

// templateSource is the file a template task renders, when its source is
// written out as a string.
func templateSource(t *Task, templates string) (string, bool) {
	src, ok := t.Attrs["source"]
	if t.Kind != "template" || !ok {
		return "", false
	}
	v, d := src.Expr.Value(nil)
	if d.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return "", false
	}
	p := v.AsString()
	if !filepath.IsAbs(p) {
		p = filepath.Join(templates, p)
	}
	return filepath.Clean(p), true
}

// secretsRead calls add with each secret name expr reads, or with AnySecret
// when it reads secret without naming one.
func secretsRead(expr hcl.Expression, add func(string)) {
	refsOf(expr, "secret", add, func() { add(AnySecret) })
}

func sortedAttrNames(attrs hcl.Attributes) []string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
