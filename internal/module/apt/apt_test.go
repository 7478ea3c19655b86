package apt

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

const dpkgOut = `[dpkg]
nginx install ok installed 1.22.1-9
curl install ok installed 7.88.1-10+deb12u5
libssl3 install ok installed 3.0.11-1~deb12u2
libssl3 install ok installed 3.0.11-1~deb12u2
oldpkg deinstall ok config-files 1.0
halfpkg install reinstreq half-installed 2.0
`

const policyOut = `[policy]
nginx:
  Installed: 1.22.1-9
  Candidate: 1.22.1-10
  Version table:
     1.22.1-10 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
 *** 1.22.1-9 100
        100 /var/lib/dpkg/status
curl:
  Installed: 7.88.1-10+deb12u5
  Candidate: 7.88.1-10+deb12u5
htop:
  Installed: (none)
  Candidate: 3.2.2-2
ghost:
  Installed: (none)
  Candidate: (none)
`

func build(t *testing.T, vals map[string]cty.Value) *Package {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("package", "p", vals)).(*Package)
}

func names(ns ...string) cty.Value {
	var vs []cty.Value
	for _, n := range ns {
		vs = append(vs, cty.StringVal(n))
	}
	return cty.ListVal(vs)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vals    map[string]cty.Value
		out     string
		action  plan.Action
		summary string
		install []string
		remove  []string
		err     string
	}{
		{name: "installed", vals: map[string]cty.Value{"name": cty.StringVal("nginx")}, out: dpkgOut + "[end]\n"},
		{name: "multiarch installed", vals: map[string]cty.Value{"name": cty.StringVal("libssl3:amd64")}, out: dpkgOut + "[end]\n"},
		{name: "missing", vals: map[string]cty.Value{"names": names("nginx", "htop")}, out: dpkgOut + "[end]\n",
			action: plan.Create, summary: "install htop", install: []string{"htop"}},
		{name: "config-files only is not installed", vals: map[string]cty.Value{"names": names("oldpkg", "halfpkg")}, out: dpkgOut + "[end]\n",
			action: plan.Create, summary: "install oldpkg; install halfpkg", install: []string{"oldpkg", "halfpkg"}},
		{name: "nothing found at all", vals: map[string]cty.Value{"name": cty.StringVal("htop")}, out: "[dpkg]\n[end]\n",
			action: plan.Create, summary: "install htop", install: []string{"htop"}},
		{name: "pinned version missing", vals: map[string]cty.Value{"name": cty.StringVal("htop"), "version": cty.StringVal("3.2.2-2")}, out: dpkgOut + "[end]\n",
			action: plan.Create, summary: "install htop (3.2.2-2)", install: []string{"htop=3.2.2-2"}},
		{name: "pinned version differs", vals: map[string]cty.Value{"name": cty.StringVal("nginx"), "version": cty.StringVal("1.22.1-10")}, out: dpkgOut + "[end]\n",
			action: plan.Update, summary: "change nginx 1.22.1-9 -> 1.22.1-10", install: []string{"nginx=1.22.1-10"}},
		{name: "pinned version same", vals: map[string]cty.Value{"name": cty.StringVal("nginx"), "version": cty.StringVal("1.22.1-9")}, out: dpkgOut + "[end]\n"},
		{name: "latest", vals: map[string]cty.Value{"names": names("nginx", "curl", "htop", "ghost"), "state": cty.StringVal("latest")}, out: dpkgOut + policyOut + "[end]\n",
			action: plan.Update, summary: "upgrade nginx 1.22.1-9 -> 1.22.1-10; install htop (3.2.2-2); install ghost", install: []string{"nginx", "htop", "ghost"}},
		{name: "latest up to date", vals: map[string]cty.Value{"name": cty.StringVal("curl"), "state": cty.StringVal("latest")}, out: dpkgOut + policyOut + "[end]\n"},
		{name: "absent", vals: map[string]cty.Value{"names": names("nginx", "htop", "oldpkg"), "state": cty.StringVal("absent")}, out: dpkgOut + "[end]\n",
			action: plan.Delete, summary: "remove nginx (1.22.1-9)", remove: []string{"nginx"}},
		{name: "no dpkg", vals: map[string]cty.Value{"name": cty.StringVal("nginx")}, out: "[nodpkg]\n", err: "Debian and Ubuntu"},
		{name: "cut short", vals: map[string]cty.Value{"name": cty.StringVal("nginx")}, out: "[dpkg]\n", err: "did not finish"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, tc.vals)
			ch, err := p.Check(module.Probed{Stdout: []byte(tc.out)})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.action == "" {
				if ch != nil {
					t.Fatalf("unexpected change %+v", *ch)
				}
				return
			}
			if ch == nil || ch.Action != tc.action || ch.Summary != tc.summary {
				t.Fatalf("change = %+v", ch)
			}
			if strings.Join(p.install, ",") != strings.Join(tc.install, ",") || strings.Join(p.remove, ",") != strings.Join(tc.remove, ",") {
				t.Errorf("install %v remove %v", p.install, p.remove)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	p := build(t, map[string]cty.Value{"names": names("nginx", "curl")})
	s := p.Probe()
	if !strings.Contains(s, `dpkg-query -W -f='${Package} ${Status} ${Version}\n' 'nginx' 'curl'`) || strings.Contains(s, "apt-cache") {
		t.Errorf("probe:\n%s", s)
	}
	if s := build(t, map[string]cty.Value{"name": cty.StringVal("nginx"), "state": cty.StringVal("latest")}).Probe(); !strings.Contains(s, "apt-cache policy 'nginx'") {
		t.Errorf("latest probe:\n%s", s)
	}
}

// TestLocalDpkg runs the real probe when the test machine is Debian-like.
func TestLocalDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("no dpkg-query here")
	}
	p := build(t, map[string]cty.Value{"names": names("dpkg", "skiff-no-such-package")})
	ch, err := p.Check(moduletest.Probe(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if ch == nil || ch.Summary != "install skiff-no-such-package" {
		t.Errorf("change = %+v", ch)
	}
	// latest: dpkg may or may not have an upgrade in this machine's cache.
	p = build(t, map[string]cty.Value{"names": names("dpkg", "skiff-no-such-package"), "state": cty.StringVal("latest")})
	ch, err = p.Check(moduletest.Probe(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if ch == nil || !strings.HasSuffix(ch.Summary, "install skiff-no-such-package") || strings.Contains(ch.Summary, "install dpkg") {
		t.Errorf("change = %+v", ch)
	}
}

// script records scripts and answers with a fixed result.
type script struct {
	transport.Transport
	ran []string
	res transport.Result
}

func (s *script) Run(_ context.Context, sc string) (transport.Result, error) {
	s.ran = append(s.ran, sc)
	return s.res, nil
}

func TestApply(t *testing.T) {
	p := build(t, map[string]cty.Value{"names": names("nginx", "htop"), "update_cache": cty.True})
	if _, err := p.Check(module.Probed{Stdout: []byte("[dpkg]\n[end]\n")}); err != nil {
		t.Fatal(err)
	}
	tr := &script{}
	if err := p.Apply(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.ran) != 2 || !strings.Contains(tr.ran[0], "apt-get update") {
		t.Fatalf("ran %q", tr.ran)
	}
	for _, want := range []string{"DEBIAN_FRONTEND=noninteractive", "apt-get install -y -q", "--no-install-recommends", "--force-confdef", "--force-confold", "'nginx' 'htop'"} {
		if !strings.Contains(tr.ran[1], want) {
			t.Errorf("install script lacks %q:\n%s", want, tr.ran[1])
		}
	}
	tr = &script{res: transport.Result{ExitCode: 100, Stderr: []byte("E: Unable to locate package htop")}}
	p.Check(module.Probed{Stdout: []byte("[dpkg]\n[end]\n")})
	if err := p.Apply(context.Background(), tr); err == nil || !strings.Contains(err.Error(), "exit 100") || !strings.Contains(err.Error(), "Unable to locate") {
		t.Errorf("err = %v", err)
	}

	// Nothing to install: update_cache alone changes nothing.
	p = build(t, map[string]cty.Value{"name": cty.StringVal("nginx"), "update_cache": cty.True})
	if ch, _ := p.Check(module.Probed{Stdout: []byte(dpkgOut + "[end]\n")}); ch != nil {
		t.Errorf("change = %+v", ch)
	}
}

func TestArgErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"no name":         {map[string]cty.Value{}, "Give the package's name"},
		"both":            {map[string]cty.Value{"name": cty.StringVal("a"), "names": names("b")}, "not both"},
		"bad name":        {map[string]cty.Value{"name": cty.StringVal("nginx; rm -rf /")}, "not a Debian package name"},
		"glob":            {map[string]cty.Value{"names": names("nginx*")}, "not a Debian package name"},
		"bad state":       {map[string]cty.Value{"name": cty.StringVal("a"), "state": cty.StringVal("installed")}, "must be one of"},
		"version latest":  {map[string]cty.Value{"name": cty.StringVal("a"), "version": cty.StringVal("1"), "state": cty.StringVal("latest")}, "version goes with"},
		"version list":    {map[string]cty.Value{"names": names("a", "b"), "version": cty.StringVal("1")}, "single package"},
		"version bad":     {map[string]cty.Value{"name": cty.StringVal("a"), "version": cty.StringVal("1 2")}, "not a Debian version"},
		"update_cache ty": {map[string]cty.Value{"name": cty.StringVal("a"), "update_cache": cty.StringVal("maybe")}, "update_cache"},
		"unsupported":     {map[string]cty.Value{"name": cty.StringVal("a"), "purge": cty.True}, `no argument named "purge"`},
		"empty names":     {map[string]cty.Value{"names": cty.ListValEmpty(cty.String)}, "must not be empty"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("package", "p", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
		})
	}
}

// The package kind serves Debian, Ubuntu and the systems derived from them.
func TestServes(t *testing.T) {
	for _, c := range []struct {
		sys  module.System
		want bool
	}{
		{module.System{ID: "debian"}, true},
		{module.System{ID: "ubuntu", Like: []string{"debian"}}, true},
		{module.System{ID: "linuxmint", Like: []string{"ubuntu", "debian"}}, true},
		{module.System{ID: "fedora"}, false},
		{module.System{ID: "rocky", Like: []string{"rhel", "centos", "fedora"}}, false},
		{module.System{}, false},
	} {
		if err := Serves(c.sys); (err == nil) != c.want {
			t.Errorf("Serves(%+v) = %v, want served %t", c.sys, err, c.want)
		}
	}
}
