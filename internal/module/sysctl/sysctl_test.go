package sysctl

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// kernel sets the stand-in for a live parameter, and the persisting file
// (absent when content is nil), before a test.
func kernel(t *testing.T, name, live string, conf *string) {
	t.Helper()
	p := procRoot + "/" + strings.ReplaceAll(name, ".", "/")
	if err := os.WriteFile(p, []byte(live), 0o644); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(Dir, DefaultFile)
	os.Remove(f)
	if conf != nil {
		os.WriteFile(f, []byte(*conf), 0o644)
	}
}

func live(t *testing.T, name string) string {
	b, err := os.ReadFile(procRoot + "/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func conf(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(Dir, DefaultFile))
	if os.IsNotExist(err) {
		return "(absent)"
	}
	return string(b)
}

func build(t *testing.T, name, value string) module.Module {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("sysctl", "t", map[string]cty.Value{"name": cty.StringVal(name), "value": cty.StringVal(value)}))
}

func ptr(s string) *string { return &s }

func TestConverge(t *testing.T) {
	for _, tc := range []struct {
		name          string
		live          string
		conf          *string
		value         string
		summary       string
		wantConf      string
		wantLive      string
		livePartInSum bool
	}{
		{name: "both differ, no file yet", live: "4096\n", value: "1024",
			summary:  "net.core.somaxconn = 1024: live 4096 -> 1024; create " + Dir + "/99-skiff.conf: add line 1",
			wantConf: "net.core.somaxconn = 1024\n", wantLive: "1024\n"},
		{name: "live only", live: "4096\n", conf: ptr("net.core.somaxconn=1024\n"), value: "1024",
			summary: "net.core.somaxconn = 1024: live 4096 -> 1024", wantConf: "net.core.somaxconn=1024\n", wantLive: "1024\n"},
		{name: "file only: the last setting counts and is replaced", live: "1024\n", value: "1024",
			conf:     ptr("# tuned\nnet.core.somaxconn = 1024\nvm.swappiness = 10\n-net/core/somaxconn = 512\n"),
			summary:  "net.core.somaxconn = 1024: update " + Dir + "/99-skiff.conf: replace line 4",
			wantConf: "# tuned\nnet.core.somaxconn = 1024\nvm.swappiness = 10\nnet.core.somaxconn = 1024\n", wantLive: "1024\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kernel(t, "net.core.somaxconn", tc.live, tc.conf)
			ch := moduletest.Converge(t, func() module.Module { return build(t, "net.core.somaxconn", tc.value) })
			if ch.Summary != tc.summary {
				t.Errorf("summary = %q, want %q", ch.Summary, tc.summary)
			}
			if got := conf(t); got != tc.wantConf {
				t.Errorf("file = %q, want %q", got, tc.wantConf)
			}
			if got := live(t, "net.core.somaxconn"); got != tc.wantLive {
				t.Errorf("live = %q, want %q", got, tc.wantLive)
			}
		})
	}
}

// TestSeveralFields: values the kernel prints tab-separated compare equal
// to the same fields written with spaces.
func TestSeveralFields(t *testing.T) {
	kernel(t, "net.ipv4.ip_local_port_range", "32768\t60999\n", ptr("net.ipv4.ip_local_port_range = 32768   60999\n"))
	if ch := moduletest.Check(t, build(t, "net.ipv4.ip_local_port_range", "32768 60999")); ch != nil {
		t.Errorf("unexpected change %+v", *ch)
	}
}

// TestKernelKeepsAnotherValue: a value the kernel does not keep as
// written fails the task, and is not persisted.
func TestKernelKeepsAnotherValue(t *testing.T) {
	kernel(t, "net.core.somaxconn", "4096\n", nil)
	// A kernel that rounds the value: the stand-in reads back 2048
	// whatever was written.
	moduletest.FakeCommands(t, map[string]string{"cat": `case "$1" in */proc/net/core/somaxconn) echo 2048 ;; *) exec /bin/cat "$@" ;; esac`})
	m := build(t, "net.core.somaxconn", "1024")
	if ch := moduletest.Check(t, m); ch == nil {
		t.Fatal("no change")
	}
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), `the kernel keeps "2048", not "1024": nothing persisted`) {
		t.Fatalf("apply error = %v", err)
	}
	if got := conf(t); got != "(absent)" {
		t.Errorf("file = %q: persisted a value the kernel refused", got)
	}
}

func TestMissingParameter(t *testing.T) {
	m := build(t, "net.core.no_such_thing", "1")
	ch := moduletest.Check(t, m)
	if ch == nil || !strings.Contains(ch.Summary, "not in the kernel yet") {
		t.Fatalf("change = %+v", ch)
	}
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "the kernel has no parameter net.core.no_such_thing") {
		t.Fatalf("apply error = %v", err)
	}
}

// TestUndo: a rollback restores the live value read before the change,
// and the file as it was (here: absent).
func TestUndo(t *testing.T) {
	for name, before := range map[string]*string{"no file before": nil, "file before": ptr("a = b\nnet.core.somaxconn = 2048\n")} {
		t.Run(name, func(t *testing.T) {
			kernel(t, "net.core.somaxconn", "4096\n", before)
			f := filepath.Join(Dir, DefaultFile)
			fileBefore := moduletest.PathState(t, f)
			m := build(t, "net.core.somaxconn", "1024")
			moduletest.Check(t, m)
			backup, undo, after := moduletest.Reversal(t, m, filepath.Join(t.TempDir(), "runs", "1"))
			if after != "" {
				t.Errorf("after = %q", after)
			}
			moduletest.MustRunFragment(t, "backup", backup)
			if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
				t.Fatal(err)
			}
			if live(t, "net.core.somaxconn") != "1024\n" {
				t.Fatal("apply did not set the live value")
			}
			for i := range 2 {
				moduletest.MustRunFragment(t, "undo", undo)
				if got := live(t, "net.core.somaxconn"); got != "4096\n" {
					t.Errorf("after undo #%d: live = %q", i+1, got)
				}
				if got := moduletest.PathState(t, f); got != fileBefore {
					t.Errorf("after undo #%d: file\n%s\nwant\n%s", i+1, got, fileBefore)
				}
			}
		})
	}
}

// TestNativeProbeMatchesFragment: the helper prints byte for byte what
// the sh fragment prints.
func TestNativeProbeMatchesFragment(t *testing.T) {
	for _, c := range []*string{nil, ptr(""), ptr("net.core.somaxconn = 1\n")} {
		kernel(t, "net.core.somaxconn", "4096\n", c)
		for _, name := range []string{"net.core.somaxconn", "net.core.missing"} {
			m := build(t, name, "1024")
			frag := moduletest.Probe(t, m)
			kind, q, ok := m.(module.NativeProber).NativeProbe()
			if !ok || Natives[kind] == nil {
				t.Fatalf("native probe %q %v", kind, ok)
			}
			raw, _ := jsonOf(q)
			ans := Natives[kind]([][]byte{raw})
			if !ans[0].OK {
				t.Fatalf("%s: declined", name)
			}
			if string(ans[0].Stdout) != string(frag.Stdout) {
				t.Errorf("%s: native\n%q\nfragment\n%q", name, ans[0].Stdout, frag.Stdout)
			}
		}
	}
}

func TestArgumentErrors(t *testing.T) {
	str := cty.StringVal
	for _, tc := range []struct {
		vals map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{"value": str("1")}, `needs the argument "name"`},
		{map[string]cty.Value{"name": str("net.core.somaxconn")}, `needs the argument "value"`},
		{map[string]cty.Value{"name": str("somaxconn"), "value": str("1")}, "not a kernel parameter name"},
		{map[string]cty.Value{"name": str("net/core/../x"), "value": str("1")}, "not a kernel parameter name"},
		{map[string]cty.Value{"name": str("net.core.somaxconn"), "value": str("1\n2")}, "one line"},
		{map[string]cty.Value{"name": str("net.core.somaxconn"), "value": str(" ")}, "must not be empty"},
		{map[string]cty.Value{"name": str("net.core.somaxconn"), "value": str("1"), "file": str("/etc/sysctl.conf")}, "directly in"},
		{map[string]cty.Value{"name": str("net.core.somaxconn"), "value": str("1"), "file": str(Dir + "/x.txt")}, ".conf file"},
		{map[string]cty.Value{"name": str("net.core.somaxconn"), "value": secret.Wrap(str("1"))}, "must not derive from a secret"},
	} {
		_, diags := moduletest.Build(New, moduletest.Args("sysctl", "t", tc.vals))
		moduletest.DiagsContain(t, diags, tc.want)
	}
	// A number is a value too.
	moduletest.MustBuild(t, New, moduletest.Args("sysctl", "t", map[string]cty.Value{"name": str("net.core.somaxconn"), "value": cty.NumberIntVal(1024)}))
}

func jsonOf(v any) ([]byte, error) { return json.Marshal(v) }
