package engine

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
)

// become_user reaches the kinds that honour it: the task's own (an
// expression, per host) wins over the play's; root is no other user. A
// kind that does not honour it ignores the play's and refuses the task's.
func TestBecomeUserReachesTheKind(t *testing.T) {
	role := `
task "touch" "plain" { path = "x" }
task "vtouch" "as_play" { path = "x" }
task "vtouch" "as_var" {
  path        = "x"
  become_user = var.db_user
}
task "vtouch" "as_root" {
  path        = "x"
  become_user = "root"
}
task "touch" "refused" {
  path        = "x"
  become_user = "app"
}
task "vtouch" "bad_name" {
  path        = "x"
  become_user = "-u root"
}
task "vtouch" "secret" {
  path        = "x"
  become_user = secret.who
}
`
	f := newPlaysFixture(t, map[string]string{"r": role}, `play "p" {
  hosts       = "all"
  roles       = ["r"]
  become_user = "deploy"
  vars        = { db_user = "postgres" }
}`, "")
	got := map[string]string{}
	f.eng.Registry["vtouch"] = func(a *module.Args) module.Module {
		got[a.Name] = a.BecomeUser()
		return &touch{path: a.String("path", true)}
	}
	scope := NewScope(f.eng.Inventory, map[string]string{"who": "bob"}, nil, nil)
	p := f.eng.Playbook.Plays[0]
	r := f.eng.Playbook.Roles["r"]
	ctx := scope.Context(f.eng.Inventory.Hosts[0], r, p, cty.DynamicVal)
	diagsOf := map[string]hcl.Diagnostics{}
	for _, task := range r.Tasks {
		_, _, d := Bind(f.eng.Registry, task, r, ctx, nil)
		diagsOf[task.Name] = d
	}
	for name, want := range map[string]string{"as_play": "deploy", "as_var": "postgres", "as_root": ""} {
		if diagsOf[name].HasErrors() || got[name] != want {
			t.Errorf("%s: user %q, want %q (%v)", name, got[name], want, diagsOf[name])
		}
	}
	if diagsOf["plain"].HasErrors() {
		t.Errorf("the play's become_user refused on a kind that runs as root: %v", diagsOf["plain"])
	}
	for name, want := range map[string]string{
		"refused":  "cannot run as another user",
		"bad_name": `become_user must be a user name such as "postgres"`,
		"secret":   "must not derive from a secret",
	} {
		d := diagsOf[name]
		if !d.HasErrors() || !strings.Contains(d.Error(), want) {
			t.Errorf("%s: %v, want %q", name, d, want)
			continue
		}
		if s := d[0].Subject; s == nil || !strings.HasSuffix(s.Filename, "role.hcl") || s.Start.Line < 14 {
			t.Errorf("%s: the error is not at its become_user: %v", name, s)
		}
	}
	if strings.Contains(diagsOf["secret"].Error(), "bob") {
		t.Errorf("the secret's value is in the error: %v", diagsOf["secret"])
	}
}
