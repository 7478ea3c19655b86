package ufw

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// host is a fake host: a root with ufw's files (copied from testdata, which
// ufw 0.36.2 of Debian bookworm wrote) and a fake ufw on PATH that logs its
// arguments and answers `ufw status`, and a fake iptables that answers
// whether ufw's chains are loaded.
type host struct {
	root, log string
}

func newHost(t *testing.T, installed bool, status string) *host {
	t.Helper()
	h := &host{root: t.TempDir()}
	bin := t.TempDir()
	h.log = filepath.Join(bin, "ufw.log")
	if installed {
		fake := "#!/bin/sh\necho \"$*\" >> " + h.log + "\n" +
			"case \"$1\" in status) echo 'Status: " + status + "';; esac\n"
		if err := os.WriteFile(filepath.Join(bin, "ufw"), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
		// iptables -L ufw-user-input: exit 0 when ufw's chains are loaded, 1 when not.
		loaded := "1"
		if status == "active" {
			loaded = "0"
		}
		ipt := "#!/bin/sh\ncase \"$*\" in *'-L ufw-user-input'*) exit " + loaded + ";; esac\nexit 2\n"
		if err := os.WriteFile(filepath.Join(bin, "iptables"), []byte(ipt), 0o755); err != nil {
			t.Fatal(err)
		}
		for src, dst := range map[string]string{
			"user.rules":  "etc/ufw/user.rules",
			"user6.rules": "etc/ufw/user6.rules",
			"ufw.conf":    "etc/ufw/ufw.conf",
			"default-ufw": "etc/default/ufw",
		} {
			b, err := os.ReadFile(filepath.Join("testdata", src))
			if err != nil {
				t.Fatal(err)
			}
			h.write(t, dst, string(b))
		}
	}
	// Only the fake bin and the system's basic tools: never a real ufw.
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	return h
}

func (h *host) write(t *testing.T, rel, content string) {
	t.Helper()
	p := filepath.Join(h.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// edit replaces old by new in a file of the host.
func (h *host) edit(t *testing.T, rel, old, new string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.root, rel))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", rel, old)
	}
	h.write(t, rel, strings.Replace(string(b), old, new, 1))
}

func (h *host) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(h.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" && l != "status" {
			out = append(out, l)
		}
	}
	return out
}

func obj(kv ...any) cty.Value {
	m := map[string]cty.Value{}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case string:
			m[kv[i].(string)] = cty.StringVal(v)
		case int:
			m[kv[i].(string)] = cty.NumberIntVal(int64(v))
		case cty.Value:
			m[kv[i].(string)] = v
		}
	}
	return cty.ObjectVal(m)
}

func strs(s ...string) cty.Value {
	var vs []cty.Value
	for _, x := range s {
		vs = append(vs, cty.StringVal(x))
	}
	return cty.TupleVal(vs)
}

// sampleRules are the rules of testdata without the extra 8080 and the
// IPv6 limit rule.
func sampleRules() cty.Value {
	return cty.TupleVal([]cty.Value{
		obj("port", 22, "from", "10.0.0.0/8", "comment", "ssh from admins"),
		obj("port", "443,80"),
	})
}

func build(t *testing.T, h *host, vals map[string]cty.Value) *UFW {
	t.Helper()
	u := moduletest.MustBuild(t, New, moduletest.Args("ufw", "fw", vals)).(*UFW)
	u.root = h.root
	return u
}

func check(t *testing.T, u *UFW) *module.Change {
	t.Helper()
	return moduletest.Check(t, u)
}

func TestParseSampleFiles(t *testing.T) {
	b4, _ := os.ReadFile("testdata/user.rules")
	b6, _ := os.ReadFile("testdata/user6.rules")
	r4, err := ParseRules(string(b4), false)
	if err != nil {
		t.Fatal(err)
	}
	r6, err := ParseRules(string(b6), true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range append(r4, r6...) {
		s := r.String()
		if r.V6 {
			s += " v6"
		}
		got = append(got, s)
	}
	want := []string{
		"allow 22/tcp from 10.0.0.0/8 comment 'ssh from admins'",
		"allow 80,443/tcp from any",
		"allow 8080/tcp from any",
		"allow 80,443/tcp from any v6",
		"allow 8080/tcp from any v6",
		"limit 6000:6007/udp from 2001:db8::/32 v6",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseTupleForms(t *testing.T) {
	for _, tc := range []struct {
		line     string
		v6       bool
		str      string
		del      string
		simpleOK bool
	}{
		{"### tuple ### deny any any 0.0.0.0/0 any 192.168.1.5 in", false,
			"deny from 192.168.1.5", "ufw delete deny from 192.168.1.5 to 0.0.0.0/0", true},
		{"### tuple ### allow_log tcp 8080 ::/0 any ::/0 in", true,
			"allow log 8080/tcp from any", "ufw delete allow log from ::/0 to ::/0 port 8080 proto tcp", true},
		{"### tuple ### allow tcp 25 0.0.0.0/0 any 0.0.0.0/0 out_eth0", false,
			"allow out on eth0 from any to any port 25 proto tcp", "ufw delete allow out on eth0 from 0.0.0.0/0 to 0.0.0.0/0 port 25 proto tcp", false},
		{"### tuple ### route:allow any any 0.0.0.0/0 any 10.0.0.0/8 in_eth1!out_eth0", false,
			"route allow in on eth1 out on eth0 from 10.0.0.0/8 to any", "ufw route delete allow in on eth1 out on eth0 from 10.0.0.0/8 to 0.0.0.0/0", false},
		{"### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in", false,
			"allow from any to any app OpenSSH", "ufw delete allow from 0.0.0.0/0 to 0.0.0.0/0 app OpenSSH", false},
		{"### tuple ### deny udp 53 0.0.0.0/0 any 10.1.0.0/16", false, // old 6-field form
			"deny 53/udp from 10.1.0.0/16", "ufw delete deny from 10.1.0.0/16 to 0.0.0.0/0 port 53 proto udp", true},
	} {
		r, err := ParseTuple(tc.line, tc.v6)
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		if s := r.String(); s != tc.str {
			t.Errorf("%s: String = %q, want %q", tc.line, s, tc.str)
		}
		if d := strings.Join(r.DeleteArgs(), " "); d != tc.del {
			t.Errorf("%s: delete = %q, want %q", tc.line, d, tc.del)
		}
		if r.simple() != tc.simpleOK {
			t.Errorf("%s: simple = %v", tc.line, r.simple())
		}
	}
	for _, bad := range []string{"### tuple ### allow tcp 22", "### tuple ### allow tcp 22 a b c d e f g h", "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=zz"} {
		if _, err := ParseTuple(bad, false); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestCheckAgainstSamples(t *testing.T) {
	h := newHost(t, true, "inactive")
	ch := check(t, build(t, h, map[string]cty.Value{"rules": sampleRules()}))
	if ch == nil {
		t.Fatal("no change")
	}
	wantDiff := "- allow 8080/tcp from any\n" +
		"- limit 6000:6007/udp from 2001:db8::/32\n" +
		"~ enable ufw\n"
	if ch.Diff != wantDiff || ch.Action != plan.Update {
		t.Errorf("diff:\n%s\nwant:\n%s", ch.Diff, wantDiff)
	}
	if ch.Summary != "-allow 8080/tcp from any, -limit 6000:6007/udp from 2001:db8::/32, enable ufw" {
		t.Errorf("summary = %q", ch.Summary)
	}

	// Without rules, rules are not managed.
	ch = check(t, build(t, h, map[string]cty.Value{}))
	if ch == nil || ch.Diff != "~ enable ufw\n" {
		t.Errorf("no rules: %+v", ch)
	}
	// rules = [] deletes them all (here the ssh guard does not apply: incoming allowed).
	ch = check(t, build(t, h, map[string]cty.Value{"rules": cty.EmptyTupleVal, "default_incoming": cty.StringVal("allow")}))
	if ch == nil || strings.Count("\n"+ch.Diff, "\n- ") != 4 {
		t.Errorf("rules = []: %+v", ch)
	}

	// Without purge the extra rules stay.
	ch = check(t, build(t, h, map[string]cty.Value{"rules": sampleRules(), "purge": cty.False}))
	if ch == nil || ch.Diff != "~ enable ufw\n" {
		t.Errorf("purge=false: %+v", ch)
	}

	// Enabled and matching: nothing to do.
	h2 := newHost(t, true, "active")
	h2.edit(t, "etc/ufw/ufw.conf", "ENABLED=no", "ENABLED=yes")
	if ch := check(t, build(t, h2, map[string]cty.Value{"rules": sampleRules(), "purge": cty.False})); ch != nil {
		t.Errorf("matching host: %+v", ch)
	}
	// ENABLED=yes but not active (rules flushed, say): enable again.
	h3 := newHost(t, true, "inactive")
	h3.edit(t, "etc/ufw/ufw.conf", "ENABLED=no", "ENABLED=yes")
	if ch := check(t, build(t, h3, map[string]cty.Value{"rules": sampleRules(), "purge": cty.False})); ch == nil || ch.Diff != "~ enable ufw\n" {
		t.Errorf("inactive: %+v", ch)
	}
}

func TestCheckChanges(t *testing.T) {
	h := newHost(t, true, "active")
	h.edit(t, "etc/ufw/ufw.conf", "ENABLED=no", "ENABLED=yes")
	h.edit(t, "etc/default/ufw", `DEFAULT_INPUT_POLICY="DROP"`, `DEFAULT_INPUT_POLICY="ACCEPT"`)
	rules := cty.TupleVal([]cty.Value{
		obj("port", 22, "from", strs("10.0.0.0/8", "192.0.2.7/32"), "comment", "admins"),
		obj("port", "80,443", "action", "limit"),
		obj("port", 8080, "proto", "tcp"),
		obj("port", "6000:6007", "proto", "udp", "from", "2001:db8::/32", "action", "limit"),
		obj("port", 53, "proto", "any", "from", "2001:db8::1"),
	})
	u := build(t, h, map[string]cty.Value{"rules": rules, "default_outgoing": cty.StringVal("deny")})
	ch := check(t, u)
	want := "~ allow 22/tcp from 10.0.0.0/8 comment 'admins' (was: comment 'ssh from admins')\n" +
		"+ allow 22/tcp from 192.0.2.7 comment 'admins'\n" +
		"~ limit 80,443/tcp from any (was: allow)\n" +
		"+ allow 53 from 2001:db8::1\n" +
		"~ default incoming allow -> deny\n" +
		"~ default outgoing allow -> deny\n"
	if ch == nil || ch.Diff != want {
		t.Fatalf("diff:\n%v\nwant:\n%s", ch, want)
	}
	if !strings.HasSuffix(ch.Summary, "and 1 more rule changes, default incoming allow -> deny, default outgoing allow -> deny") {
		t.Errorf("summary = %q", ch.Summary)
	}

	// Only the IPv6 half missing is marked so.
	h.edit(t, "etc/ufw/user6.rules", "### tuple ### allow tcp 8080 ::/0 any ::/0 in", "")
	ch = check(t, build(t, h, map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22), obj("port", 8080)}), "default_incoming": cty.StringVal("allow")}))
	if ch == nil || !strings.Contains(ch.Diff, "+ allow 8080/tcp from any (v6)\n") || !strings.Contains(ch.Diff, "+ allow 22/tcp from any\n") {
		t.Errorf("v6 half: %+v", ch)
	}
}

func TestIPv6Off(t *testing.T) {
	h := newHost(t, true, "active")
	h.edit(t, "etc/ufw/ufw.conf", "ENABLED=no", "ENABLED=yes")
	h.edit(t, "etc/default/ufw", "IPV6=yes", "IPV6=no")
	// user6.rules keeps its rules, which ufw ignores then: so does the check.
	u := build(t, h, map[string]cty.Value{"rules": sampleRules()})
	if ch := check(t, u); ch == nil || ch.Diff != "- allow 8080/tcp from any\n" {
		t.Errorf("IPv4 only host: %+v", ch)
	}
	u = build(t, h, map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22, "from", "2001:db8::/32")})})
	if _, err := u.Check(moduletest.Probe(t, u)); err == nil || !strings.Contains(err.Error(), "IPV6=no") {
		t.Errorf("v6 source with IPv6 off: %v", err)
	}
}

func TestNotInstalled(t *testing.T) {
	h := newHost(t, false, "")
	u := build(t, h, map[string]cty.Value{"rules": sampleRules()})
	ch := check(t, u)
	if ch == nil || ch.Action != plan.Create || !strings.HasPrefix(ch.Summary, "ufw not installed yet: +allow 22/tcp from 10.0.0.0/8") {
		t.Fatalf("change = %+v", ch)
	}
	if !strings.Contains(ch.Diff, "+ allow 80,443/tcp from any\n") || !strings.HasSuffix(ch.Diff, "~ enable ufw\n") {
		t.Errorf("diff:\n%s", ch.Diff)
	}
	err := u.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "ufw is not installed") {
		t.Errorf("apply: %v", err)
	}
}

func TestApplyOrder(t *testing.T) {
	h := newHost(t, true, "inactive")
	h.edit(t, "etc/default/ufw", `DEFAULT_INPUT_POLICY="DROP"`, `DEFAULT_INPUT_POLICY="ACCEPT"`)
	rules := cty.TupleVal([]cty.Value{
		obj("port", 22, "from", "10.0.0.0/8", "comment", "ssh from admins"),
		obj("port", 443),
	})
	u := build(t, h, map[string]cty.Value{"rules": rules})
	if ch := check(t, u); ch == nil {
		t.Fatal("no change")
	}
	tr := &transporttest.Local{}
	if err := u.Apply(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"allow from 0.0.0.0/0 to 0.0.0.0/0 port 443 proto tcp",
		"allow from ::/0 to ::/0 port 443 proto tcp",
		"default deny incoming",
		"delete allow from 0.0.0.0/0 to 0.0.0.0/0 port 80,443 proto tcp",
		"delete allow from 0.0.0.0/0 to 0.0.0.0/0 port 8080 proto tcp",
		"delete allow from ::/0 to ::/0 port 80,443 proto tcp",
		"delete allow from ::/0 to ::/0 port 8080 proto tcp",
		"delete limit from 2001:db8::/32 to ::/0 port 6000:6007 proto udp",
		"--force enable",
	}
	if got := h.calls(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ufw calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(tr.Scripts) != 1 {
		t.Fatalf("%d scripts", len(tr.Scripts))
	}
	// Every ufw command reads /dev/null: ufw prompts on stdin, which over
	// SSH is the rest of the script.
	for _, l := range strings.Split(strings.TrimSpace(tr.Scripts[0]), "\n") {
		if strings.HasPrefix(l, "'ufw'") && !strings.Contains(l, "</dev/null") {
			t.Errorf("command reads the script's stdin: %s", l)
		}
	}
}

func TestApplyCommentAndFailure(t *testing.T) {
	h := newHost(t, true, "active")
	h.edit(t, "etc/ufw/ufw.conf", "ENABLED=no", "ENABLED=yes")
	u := build(t, h, map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{
		obj("port", 22, "from", "10.0.0.0/8", "comment", "it is $HOME `id`"),
		obj("port", "80,443"),
	}), "purge": cty.False})
	check(t, u)
	if err := u.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if got := h.calls(t); len(got) != 1 || got[0] != "allow from 10.0.0.0/8 to 0.0.0.0/0 port 22 proto tcp comment it is $HOME `id`" {
		t.Errorf("calls = %q", got)
	}

	// A failing ufw stops the script before enabling.
	bin := filepath.Dir(h.log)
	os.WriteFile(filepath.Join(bin, "ufw"), []byte("#!/bin/sh\necho \"$*\" >> "+h.log+"\ncase \"$1\" in status) echo 'Status: inactive';; allow) echo 'ERROR: Bad port' >&2; exit 1;; esac\n"), 0o755)
	os.Remove(h.log)
	u = build(t, h, map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22), obj("port", 9999)})})
	check(t, u)
	err := u.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "ERROR: Bad port") || !strings.Contains(err.Error(), "skiff: failed: ufw allow") {
		t.Errorf("apply error = %v", err)
	}
	for _, c := range h.calls(t) {
		if strings.Contains(c, "enable") || strings.Contains(c, "delete") {
			t.Errorf("ran %q after a failed add", c)
		}
	}
}

func TestSSHGuard(t *testing.T) {
	h := newHost(t, true, "active")
	web := cty.TupleVal([]cty.Value{obj("port", "80,443")})
	u := build(t, h, map[string]cty.Value{"rules": web})
	_, err := u.Check(moduletest.Probe(t, u))
	if err == nil || !strings.Contains(err.Error(), "port [22]") {
		t.Errorf("lockout not refused: %v", err)
	}
	// sshd on another port, allowed within a range: fine.
	h.write(t, "etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n#Port 22\n")
	h.write(t, "etc/ssh/sshd_config.d/port.conf", "Port 2222\n")
	u = build(t, h, map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", "80,443"), obj("port", "2000:3000", "action", "limit")})})
	if _, err := u.Check(moduletest.Probe(t, u)); err != nil {
		t.Errorf("port 2222 in range: %v", err)
	}
	u = build(t, h, map[string]cty.Value{"rules": web})
	if _, err := u.Check(moduletest.Probe(t, u)); err == nil || !strings.Contains(err.Error(), "port [2222]") {
		t.Errorf("port 2222 not found: %v", err)
	}
	// Without purge the live ssh rule stays; with incoming allowed, or disabled, anything goes.
	for _, extra := range []map[string]cty.Value{
		{"purge": cty.False},
		{"default_incoming": cty.StringVal("allow")},
		{"enabled": cty.False},
	} {
		h.write(t, "etc/ssh/sshd_config", "")
		os.Remove(filepath.Join(h.root, "etc/ssh/sshd_config.d/port.conf"))
		vals := map[string]cty.Value{"rules": web}
		for k, v := range extra {
			vals[k] = v
		}
		u = build(t, h, vals)
		if _, err := u.Check(moduletest.Probe(t, u)); err != nil {
			t.Errorf("%v: %v", extra, err)
		}
	}
}

func TestArgumentValidation(t *testing.T) {
	for _, tc := range []struct {
		vals map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22, "from", "10.0.0.300/8")})}, `"10.0.0.300/8" is not an IP address`},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22, "from", strs("10.0.0.0/8", "nope"))})}, `"nope" is not an IP address`},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 0)})}, "port 0 is not a port number"},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", "70000")})}, "is not a port"},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", "6007:6000")})}, "lower port"},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", "80,443", "proto", "any")})}, `needs proto = "tcp" or "udp"`},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22, "proto", "icmp")})}, `proto must be one of`},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22, "action", "accept")})}, `action must be one of`},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22, "comment", "admin's")})}, "must not contain a quote"},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22, "to", "any")})}, `no attribute "to"`},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22), obj("port", 22, "action", "limit")})}, "Rules 1 and 2 both set 22/tcp from any"},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{obj("port", 22, "from", strs("10.0.0.1", "10.0.0.1/32"))})}, "Rule 1 lists the source 10.0.0.1 twice"},
		{map[string]cty.Value{"rules": cty.StringVal("22")}, "rules must be a list"},
		{map[string]cty.Value{"rules": cty.TupleVal([]cty.Value{cty.StringVal("22/tcp")})}, "Rule 1 must be an object"},
		{map[string]cty.Value{"default_incoming": cty.StringVal("drop")}, "must be one of"},
		{map[string]cty.Value{"rules": secret.Wrap(cty.TupleVal([]cty.Value{obj("port", 22)}))}, "must not derive from a secret"},
	} {
		_, diags := moduletest.Build(New, moduletest.Args("ufw", "fw", tc.vals))
		moduletest.DiagsContain(t, diags, tc.want)
	}
}

func TestSourcesAndPorts(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.2.3/8": "10.0.0.0/8", "10.0.0.5/32": "10.0.0.5", "192.0.2.7": "192.0.2.7",
		"2001:DB8:0:0::1": "2001:db8::1", "2001:db8::1/64": "2001:db8::1/64", "2001:db8::/128": "2001:db8::",
	} {
		s, err := ParseSource(in)
		if err != nil || s.Addr != want {
			t.Errorf("ParseSource(%q) = %+v, %v; want %s", in, s, err, want)
		}
	}
	if s, _ := ParseSource("ANY"); !s.Any {
		t.Errorf("ANY")
	}
	for _, bad := range []string{"", "10.0.0.0/33", "fe80::1%eth0", "::ffff:10.0.0.1", "host.example"} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("ParseSource(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{"443,80": "80,443", "6000:6007": "6000:6007", "8000:8010,22, 80": "22,80,8000:8010"} {
		if got, err := normPorts(in); err != nil || got != want {
			t.Errorf("normPorts(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := normPorts("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"); err == nil {
		t.Errorf("16 ports accepted")
	}
	if !covers("22,8000:8010", 8005) || covers("22,8000:8010", 80) || !covers("any", 1) {
		t.Errorf("covers")
	}
}

// TestAddArgs: the add and delete commands are those that ufw's
// own UFWCommandRule.get_command writes (checked against ufw 0.36.2).
func TestAddArgs(t *testing.T) {
	d := decl{action: "limit", proto: "tcp", port: "22", from: Source{Any: true}, comment: "ssh"}
	rs := d.rules(true)
	if len(rs) != 2 {
		t.Fatalf("%d rules", len(rs))
	}
	if got := strings.Join(rs[0].AddArgs(), " "); got != "ufw limit from 0.0.0.0/0 to 0.0.0.0/0 port 22 proto tcp comment ssh" {
		t.Errorf("v4 add = %q", got)
	}
	if got := strings.Join(rs[1].DeleteArgs(), " "); got != "ufw delete limit from ::/0 to ::/0 port 22 proto tcp" {
		t.Errorf("v6 delete = %q", got)
	}
	if n := len(d.rules(false)); n != 1 {
		t.Errorf("IPv6 off: %d rules", n)
	}
}

// A bad address is explained without Go's function names.
func TestParseSourceErrorsSpeakPlainly(t *testing.T) {
	for in, want := range map[string]string{
		"300.1.1.1/8": `"300.1.1.1/8" is not an IP address or CIDR network: IPv4 field has value >255`,
		"10.0.0.0/33": `"10.0.0.0/33" is not an IP address or CIDR network: prefix length out of range`,
		"10.0.0.300":  `"10.0.0.300" is not an IP address or CIDR network: IPv4 field has value >255`,
		"example.com": `"example.com" is not an IP address or CIDR network: unexpected character`,
	} {
		_, err := ParseSource(in)
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "Parse") {
			t.Errorf("ParseSource(%q): %v, want %q", in, err, want)
		}
	}
}
