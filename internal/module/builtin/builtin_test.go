package builtin

import (
	"sort"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/secret"
)

// kindArgs lists every argument of every kind (the user-facing contract).
var kindArgs = map[string][]string{
	"package":   {"name", "names", "state", "version", "update_cache"},
	"file":      {"path", "content", "source", "owner", "group", "mode", "validate", "state"},
	"template":  {"source", "path", "owner", "group", "mode", "validate"},
	"directory": {"path", "owner", "group", "mode", "state"},
	"symlink":   {"path", "target", "state"},
	"service":   {"name", "state", "enabled"},
	"command":   {"command", "creates", "removes", "unless", "chdir", "env", "undo"},
	"user":      {"name", "uid", "group", "groups", "home", "shell", "system", "create_home", "state"},
	"group":     {"name", "gid", "system", "state"},
	"ufw":       {"default_incoming", "default_outgoing", "enabled", "purge", "rules"},

	"line_in_file":  {"path", "line", "regexp", "insert_after", "insert_before", "state", "create", "owner", "group", "mode", "validate"},
	"block_in_file": {"path", "block", "marker", "marker_begin", "marker_end", "insert_after", "insert_before", "state", "create", "owner", "group", "mode", "validate"},
	"sysctl":        {"name", "value", "file"},
	"cron":          {"name", "user", "schedule", "command", "state"},
	"download":      {"url", "path", "sha256", "checksum_url", "owner", "group", "mode"},
	"unarchive":     {"source", "remote_source", "path", "strip_components", "format", "owner", "group"},

	"apt_repository": {"name", "uris", "suites", "components", "types", "architectures", "key", "state"},
	"git":            {"repo", "path", "version", "depth"},

	"mysql_database":    {"name", "charset", "state"},
	"mysql_user":        {"name", "host", "hosts", "password", "privileges", "require", "state", "binlog"},
	"mysql_replication": {"primary_host", "primary_port", "user", "password", "seed", "read_only", "demote"},
	"mysql_writer":      {"writable", "peers", "user", "password", "tls_ca", "promote_from", "catch_up", "inventory_edit", "handover_to", "drain_from", "name", "rivals"},

	"haproxy_server": {"socket", "backend", "server", "state", "wait", "timeout"},
	"wait_http":      {"url", "status", "body", "timeout", "interval", "insecure", "ca_file"},

	"acme_certificate": {"domain", "directory_url", "email", "directory_ca_file", "renew_before", "challenge_hosts", "cert_path", "key_path"},
}

func TestRegistryKinds(t *testing.T) {
	r := Registry()
	var got, want []string
	for k := range r {
		got = append(got, k)
	}
	for k := range kindArgs {
		want = append(want, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("kinds = %v, want %v", got, want)
	}
}

// TestUnknownValues: in `skiff validate` any value may be unknown (and
// marked); no factory may panic or complain, and Probe/Check must not panic.
func TestUnknownValues(t *testing.T) {
	for kind, names := range kindArgs {
		for _, u := range []cty.Value{cty.DynamicVal, cty.UnknownVal(cty.String), secret.Wrap(cty.DynamicVal)} {
			vals := map[string]cty.Value{}
			for _, n := range names {
				vals[n] = u
			}
			m, diags := moduletest.Build(Registry()[kind], moduletest.Args(kind, "t", vals))
			for _, d := range diags {
				if d.Summary == "Unsupported argument" || strings.Contains(d.Detail, "must be") && !strings.Contains(d.Detail, "secret") {
					t.Errorf("%s with %#v: %v", kind, u, d)
				}
			}
			_ = m.Probe()
			_, _ = m.Check(module.Probed{})
			if r, ok := m.(module.Reversible); ok {
				_, _, _ = r.Reversal("/var/lib/skiff/runs/r/1")
			}
		}
	}
}

// TestReversibleKinds: the kinds whose changes can be undone (command only
// when given undo, which Reversal reports; see module.Reversible).
func TestReversibleKinds(t *testing.T) {
	var got []string
	for kind, f := range Registry() {
		if _, ok := f(moduletest.Args(kind, "t", nil)).(module.Reversible); ok {
			got = append(got, kind)
		}
	}
	sort.Strings(got)
	want := "acme_certificate,apt_repository,block_in_file,command,cron,directory,download,file,git,group,haproxy_server,line_in_file,package,service,symlink,sysctl,template,ufw,unarchive,user"
	if strings.Join(got, ",") != want {
		t.Errorf("reversible kinds = %v, want %s", got, want)
	}
}

// TestEveryArgumentIsRead: Finish reports no supported argument as unsupported.
func TestEveryArgumentIsRead(t *testing.T) {
	for kind, names := range kindArgs {
		vals := map[string]cty.Value{}
		for _, n := range names {
			vals[n] = cty.NullVal(cty.DynamicPseudoType)
		}
		_, diags := moduletest.Build(Registry()[kind], moduletest.Args(kind, "t", vals))
		for _, d := range diags {
			if d.Summary == "Unsupported argument" {
				t.Errorf("%s: %s", kind, d.Detail)
			}
		}
	}
}

// TestNativeProbesAreRegistered: a kind whose tasks ask the probe helper
// for a native answer registers that answerer with its factory, so the
// helper answers it (an unregistered one would silently cost a program
// per read on every host).
func TestNativeProbesAreRegistered(t *testing.T) {
	dir := t.TempDir()
	str := cty.StringVal
	samples := map[string]map[string]cty.Value{
		"package":        {"name": str("nginx")},
		"file":           {"path": str(dir + "/f"), "content": str("x")},
		"directory":      {"path": str(dir + "/d")},
		"symlink":        {"path": str(dir + "/l"), "target": str("/etc/hosts")},
		"service":        {"name": str("nginx"), "state": str("started")},
		"user":           {"name": str("deploy")},
		"group":          {"name": str("deploy")},
		"ufw":            {"enabled": cty.True},
		"mysql_database": {"name": str("app")},
		"line_in_file":   {"path": str(dir + "/f"), "line": str("x")},
		"block_in_file":  {"path": str(dir + "/f"), "block": str("x")},
		"sysctl":         {"name": str("net.core.somaxconn"), "value": str("1024")},
		"cron":           {"name": str("backup"), "schedule": str("@daily"), "command": str("true")},
	}
	kinds := Kinds()
	for kind, vals := range samples {
		m := moduletest.MustBuild(t, kinds[kind].New, moduletest.Args(kind, "t", vals))
		n, ok := m.(module.NativeProber)
		if !ok {
			t.Errorf("%s has no native probe", kind)
			continue
		}
		name, _, ok := n.NativeProbe()
		if !ok {
			t.Errorf("%s declined a native probe for %v", kind, vals)
			continue
		}
		if kinds[kind].Natives[name] == nil {
			t.Errorf("%s asks for native answerer %q, which it does not register", kind, name)
		}
		if Answerers()[name] == nil {
			t.Errorf("the probe helper has no answerer %q (kind %s)", name, kind)
		}
	}
}

// Only acme_certificate acts on other hosts than its own (the lb hosts
// answering its challenge), so only it keeps a play from running beside
// another.
func TestKindsThatSpanHosts(t *testing.T) {
	if got := Kinds().SpansHosts(); len(got) != 1 || !got["acme_certificate"] {
		t.Errorf("kinds that span hosts: %v, want acme_certificate", got)
	}
}
