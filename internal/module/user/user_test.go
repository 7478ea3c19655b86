package user

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
)

func list(ns ...string) cty.Value {
	if len(ns) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	var vs []cty.Value
	for _, n := range ns {
		vs = append(vs, cty.StringVal(n))
	}
	return cty.ListVal(vs)
}

const app = "passwd=app:x:990:990::/srv/app:/usr/sbin/nologin\nprimary=app\ngroups=app adm\n"

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		action  plan.Action
		summary string
		script  string
	}{
		{name: "in sync", vals: map[string]cty.Value{"uid": cty.NumberIntVal(990), "group": cty.StringVal("app"), "groups": list("adm"), "home": cty.StringVal("/srv/app"), "shell": cty.StringVal("/usr/sbin/nologin")}, out: app},
		{name: "group by gid", vals: map[string]cty.Value{"group": cty.StringVal("990")}, out: app},
		{name: "groups list includes primary", vals: map[string]cty.Value{"groups": list("adm", "app")}, out: app},
		{name: "unmanaged fields", vals: map[string]cty.Value{}, out: app},
		{name: "create", vals: map[string]cty.Value{"uid": cty.NumberIntVal(990), "group": cty.StringVal("app"), "groups": list("adm", "www-data"), "home": cty.StringVal("/srv/app"), "shell": cty.StringVal("/bin/sh"), "system": cty.True},
			out: "passwd=\n", action: plan.Create, summary: "create user app",
			script: "useradd -u 990 -g 'app' -G 'adm,www-data' -d '/srv/app' -s '/bin/sh' -r -m 'app'\n"},
		{name: "create no home", vals: map[string]cty.Value{"create_home": cty.False}, out: "passwd=\n", action: plan.Create, summary: "create user app", script: "useradd -M 'app'\n"},
		{name: "update", vals: map[string]cty.Value{"uid": cty.NumberIntVal(991), "groups": list("docker"), "shell": cty.StringVal("/bin/bash")}, out: app,
			action: plan.Update, summary: "update user app: uid 990 -> 991, groups +docker -adm, shell /usr/sbin/nologin -> /bin/bash",
			script: "usermod -u 991 -G 'docker' -s '/bin/bash' 'app'\n"},
		{name: "no supplementary groups", vals: map[string]cty.Value{"groups": list()}, out: app,
			action: plan.Update, summary: "update user app: groups -adm", script: "usermod -G '' 'app'\n"},
		{name: "primary group", vals: map[string]cty.Value{"group": cty.StringVal("web"), "groups": list("adm", "app")}, out: app,
			action: plan.Update, summary: "update user app: group app -> web, groups +app", script: "usermod -g 'web' -G 'adm,app' 'app'\n"},
		{name: "remove", vals: map[string]cty.Value{"state": cty.StringVal("absent")}, out: app, action: plan.Delete, summary: "remove user app", script: "userdel 'app'\n"},
		{name: "already absent", vals: map[string]cty.Value{"state": cty.StringVal("absent")}, out: "passwd=\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.vals["name"] = cty.StringVal("app")
			u := moduletest.MustBuild(t, New, moduletest.Args("user", "u", tc.vals)).(*User)
			ch, err := u.Check(module.Probed{Stdout: []byte(tc.out)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.action == "" {
				if ch != nil {
					t.Fatalf("unexpected change %+v", *ch)
				}
				return
			}
			if ch == nil || ch.Action != tc.action || ch.Summary != tc.summary || u.script != tc.script {
				t.Fatalf("change = %+v\nscript %q", ch, u.script)
			}
		})
	}
	u := moduletest.MustBuild(t, New, moduletest.Args("user", "u", map[string]cty.Value{"name": cty.StringVal("app")}))
	if _, err := u.Check(module.Probed{Stdout: []byte("passwd=broken\n")}); err == nil {
		t.Errorf("broken passwd line accepted")
	}
}

// TestLocalProbe runs the probe against this machine's root account.
func TestLocalProbe(t *testing.T) {
	u := moduletest.MustBuild(t, New, moduletest.Args("user", "u", map[string]cty.Value{
		"name": cty.StringVal("root"), "uid": cty.NumberIntVal(0), "group": cty.StringVal("root"),
	}))
	if ch := moduletest.Check(t, u); ch != nil {
		t.Errorf("change = %+v", ch)
	}
}

// A GECOS field is printed as it is, backslashes and all (dash's echo
// stops at "\c"): the account is read whole and found in sync. getent
// and id are stand-ins that print such an account.
func TestProbeKeepsBackslashesInGECOS(t *testing.T) {
	bin := t.TempDir()
	stubs := map[string]string{
		"getent": `case "$1 $2" in
'passwd app') printf '%s\n' 'app:x:990:990:Ops \c team \t\\:/srv/app:/usr/sbin/nologin' ;;
'group 990') printf '%s\n' 'app:x:990:' ;;
*) exit 2 ;;
esac`,
		"id": `[ "$1 $2" = '-Gn app' ] && printf '%s\n' 'app adm'`,
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	u := moduletest.MustBuild(t, New, moduletest.Args("user", "u", map[string]cty.Value{
		"name": cty.StringVal("app"), "uid": cty.NumberIntVal(990), "group": cty.StringVal("app"),
		"groups": list("adm"), "home": cty.StringVal("/srv/app"), "shell": cty.StringVal("/usr/sbin/nologin"),
	}))
	// dash, Debian's sh, where there is one.
	sh := "/bin/sh"
	if p, err := exec.LookPath("dash"); err == nil {
		sh = p
	}
	cmd := exec.Command(sh)
	cmd.Stdin = strings.NewReader("(\n" + u.Probe() + "\n)\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	want := "passwd=app:x:990:990:Ops \\c team \\t\\\\:/srv/app:/usr/sbin/nologin\nprimary=app\ngroups=app adm\n"
	if string(out) != want {
		t.Errorf("probe printed %q, want %q", out, want)
	}
	if ch, err := u.Check(module.Probed{Stdout: out}); err != nil || ch != nil {
		t.Errorf("check: change %+v, error %v", ch, err)
	}
}

func TestArgErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"no name":     {map[string]cty.Value{}, `needs the argument "name"`},
		"bad name":    {map[string]cty.Value{"name": cty.StringVal("a b")}, "not a valid user name"},
		"bad uid":     {map[string]cty.Value{"name": cty.StringVal("a"), "uid": cty.StringVal("x")}, `"uid"`},
		"gid groups":  {map[string]cty.Value{"name": cty.StringVal("a"), "groups": list("1000")}, "not a group name"},
		"colon shell": {map[string]cty.Value{"name": cty.StringVal("a"), "shell": cty.StringVal("/bin:sh")}, "must not contain"},
		"bad state":   {map[string]cty.Value{"name": cty.StringVal("a"), "state": cty.StringVal("locked")}, "must be one of"},
		"unsupported": {map[string]cty.Value{"name": cty.StringVal("a"), "password": cty.StringVal("x")}, `no argument named "password"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("user", "u", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
		})
	}
}
