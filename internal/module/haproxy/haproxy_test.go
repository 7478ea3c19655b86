package haproxy

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func build(t *testing.T, vals map[string]cty.Value) *Server {
	t.Helper()
	all := map[string]cty.Value{"backend": cty.StringVal("web_tls"), "server": cty.StringVal("web1")}
	for k, v := range vals {
		all[k] = v
	}
	return moduletest.MustBuild(t, New, moduletest.Args("haproxy_server", "h", all)).(*Server)
}

func state(forced, status string) string {
	return "haproxy=up\nfound=yes\nop_state=2\nadmin_bits=0\nadmin=" + forced + "\nforced=" + forced + "\nstatus=" + status + "\nscur=0\n"
}

func TestDefaults(t *testing.T) {
	s := build(t, map[string]cty.Value{"state": cty.StringVal("drain")})
	if s.socket != DefaultSocket || !s.wait || s.timeout != time.Minute || s.timeoutText != "60s" {
		t.Errorf("defaults = %+v", s)
	}
	s = build(t, map[string]cty.Value{"state": cty.StringVal("ready"), "wait": cty.False, "timeout": cty.StringVal("2m"), "socket": cty.StringVal("/tmp/h.sock")})
	if s.socket != "/tmp/h.sock" || s.wait || s.timeout != 2*time.Minute || s.waitSecs() != 0 {
		t.Errorf("given = %+v", s)
	}
	s = build(t, map[string]cty.Value{"state": cty.StringVal("ready"), "timeout": cty.StringVal("1500ms")})
	if s.waitSecs() != 2 {
		t.Errorf("1500ms waits %ds, want 2 (rounded up)", s.waitSecs())
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, state, out string
		summary          string // "" for no change
		err              string
	}{
		{name: "drain a ready server", state: "drain", out: state("ready", "UP"), summary: "drain web1 in web_tls"},
		{name: "ready a drained server", state: "ready", out: state("drain", "DRAIN"), summary: "set web1 ready in web_tls"},
		{name: "ready a server in maint", state: "ready", out: state("maint", "MAINT"), summary: "set web1 ready in web_tls"},
		{name: "maint", state: "maint", out: state("ready", "UP"), summary: "set web1 maint in web_tls"},
		{name: "already drained", state: "drain", out: state("drain", "DRAIN")},
		{name: "already ready, even DOWN", state: "ready", out: state("ready", "DOWN")},
		// Kept in maint by a tracked server: "ready" would not change it.
		{name: "inherited maint", state: "ready", out: "haproxy=up\nfound=yes\nadmin_bits=2\nadmin=maint\nforced=ready\nstatus=MAINT (via b/s1)\n"},
		{name: "no socket", state: "drain", out: "haproxy=down\nreason=no socket /run/haproxy/admin.sock\n", summary: "drain web1 in web_tls (haproxy not running yet)"},
		{name: "refused", state: "ready", out: "haproxy=down\nreason=nc: /run/haproxy/admin.sock: Connection refused\n", summary: "set web1 ready in web_tls (haproxy not running yet)"},
		{name: "no output", state: "ready", out: "", summary: "set web1 ready in web_tls (haproxy not running yet)"},
		{name: "no backend", state: "drain", out: "haproxy=up\nbackend=missing\n", err: `no backend "web_tls"`},
		{name: "no server", state: "drain", out: "haproxy=up\nfound=no\n", err: `no server "web1" in backend "web_tls"`},
		{name: "client error", state: "drain", out: "error=/run/haproxy/admin.sock: Permission denied\nreason=Permission denied\n", err: "Permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, map[string]cty.Value{"state": cty.StringVal(tc.state)})
			ch, err := s.Check(module.Probed{Stdout: []byte(tc.out)})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.summary == "" && ch != nil:
				t.Fatalf("unexpected change %+v", *ch)
			case tc.summary != "" && (ch == nil || ch.Summary != tc.summary || ch.Action != plan.Run):
				t.Fatalf("change = %+v, want %q", ch, tc.summary)
			}
		})
	}
}

func TestArgErrors(t *testing.T) {
	ok := func(extra map[string]cty.Value) map[string]cty.Value {
		m := map[string]cty.Value{"backend": cty.StringVal("web_tls"), "server": cty.StringVal("web1"), "state": cty.StringVal("drain")}
		for k, v := range extra {
			if v == cty.NilVal {
				delete(m, k)
				continue
			}
			m[k] = v
		}
		return m
	}
	for name, tc := range map[string]struct {
		vals map[string]cty.Value
		want string
	}{
		"no backend":      {ok(map[string]cty.Value{"backend": cty.NilVal}), `needs the argument "backend"`},
		"no server":       {ok(map[string]cty.Value{"server": cty.NilVal}), `needs the argument "server"`},
		"no state":        {ok(map[string]cty.Value{"state": cty.NilVal}), `needs the argument "state"`},
		"bad state":       {ok(map[string]cty.Value{"state": cty.StringVal("up")}), "must be one of"},
		"bad server":      {ok(map[string]cty.Value{"server": cty.StringVal("web1;shutdown sessions")}), "is not an HAProxy server name"},
		"empty backend":   {ok(map[string]cty.Value{"backend": cty.StringVal("")}), "is not an HAProxy backend name"},
		"relative socket": {ok(map[string]cty.Value{"socket": cty.StringVal("admin.sock")}), "absolute path"},
		"bad timeout":     {ok(map[string]cty.Value{"timeout": cty.StringVal("60")}), "positive duration"},
		"zero timeout":    {ok(map[string]cty.Value{"timeout": cty.StringVal("0s")}), "positive duration"},
		"bad wait":        {ok(map[string]cty.Value{"wait": cty.StringVal("sometimes")}), `"wait"`},
		"secret server":   {ok(map[string]cty.Value{"server": secret.Wrap(cty.StringVal("web1"))}), "must not derive from a secret"},
		"unsupported":     {ok(map[string]cty.Value{"weight": cty.NumberIntVal(0)}), `no argument named "weight"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := moduletest.Build(New, moduletest.Args("haproxy_server", "h", tc.vals))
			moduletest.DiagsContain(t, diags, tc.want)
		})
	}
}

// fake is a transport whose Run returns res and records the script.
type fake struct {
	transport.Transport
	ran []string
	res transport.Result
}

func (f *fake) Run(_ context.Context, s string) (transport.Result, error) {
	f.ran = append(f.ran, s)
	return f.res, nil
}

func TestApplyResults(t *testing.T) {
	down := "haproxy=up\nfound=yes\nstatus=DOWN\nscur=0\ncheck_status=L7STS\ncheck_code=503\ncheck_desc=Layer7 wrong status\n"
	for _, tc := range []struct {
		name, state, out string
		exit             int
		err              string // "" for success
	}{
		{name: "drained", state: "drain", out: "status=DRAIN\nscur=0\nresult=done\n"},
		{name: "drain timeout is no error", state: "drain", out: "status=DRAIN\nscur=3\nresult=timeout\n"},
		{name: "ready", state: "ready", out: "status=UP\nresult=done\n"},
		{name: "ready timeout", state: "ready", out: down + "result=timeout\n", err: "web1 not UP in web_tls after 60s: status DOWN (L7STS 503: Layer7 wrong status)"},
		{name: "ready timeout, haproxy gone", state: "ready", out: "haproxy=down\nreason=no socket /x\nresult=timeout\n", err: "status unknown (HAProxy not reachable: no socket /x)"},
		{name: "not running", state: "drain", out: "haproxy=down\nreason=no socket /run/haproxy/admin.sock\nresult=unreachable\n", err: "not reachable (is haproxy running?): no socket"},
		{name: "client error", state: "drain", out: "error=/s: Permission denied\nresult=unreachable\n", err: "Permission denied"},
		{name: "no server", state: "drain", out: "haproxy=up\nfound=no\nresult=missing\n", err: `no server "web1" in backend "web_tls"`},
		{name: "no backend", state: "drain", out: "haproxy=up\nbackend=missing\nresult=missing\n", err: `no backend "web_tls"`},
		{name: "refused", state: "drain", out: "answer=Permission denied\nresult=refused\n", err: `HAProxy answered "Permission denied"`},
		{name: "script failed", state: "drain", exit: 2, out: "", err: "exit 2"},
		{name: "no result", state: "drain", out: "haproxy=up\n", err: "no result printed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, map[string]cty.Value{"state": cty.StringVal(tc.state)})
			f := &fake{res: transport.Result{Stdout: []byte(tc.out), ExitCode: tc.exit}}
			// No Check first: Apply does its job whatever Check found.
			err := s.Apply(context.Background(), f)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if len(f.ran) != 1 || !strings.Contains(f.ran[0], "'set server web_tls/web1 state "+tc.state+"'") {
				t.Fatalf("scripts = %q", f.ran)
			}
		})
	}
}

func TestApplyWaits(t *testing.T) {
	for _, tc := range []struct {
		vals      map[string]cty.Value
		want, not []string
	}{
		{map[string]cty.Value{"state": cty.StringVal("drain")}, []string{"+ 60 ))", `[ "$(field scur)" = 0 ]`, "sleep 0.1"}, nil},
		{map[string]cty.Value{"state": cty.StringVal("ready"), "timeout": cty.StringVal("2m")}, []string{"+ 120 ))", `UP|"no check"`}, nil},
		{map[string]cty.Value{"state": cty.StringVal("ready"), "wait": cty.False}, nil, []string{"deadline", "sleep 0.1"}},
		{map[string]cty.Value{"state": cty.StringVal("maint")}, nil, []string{"deadline", "sleep 0.1"}},
	} {
		s := build(t, tc.vals)
		f := &fake{res: transport.Result{Stdout: []byte("result=done\n")}}
		if err := s.Apply(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(f.ran[0], w) {
				t.Errorf("%v: script lacks %q:\n%s", tc.vals, w, f.ran[0])
			}
		}
		for _, w := range tc.not {
			if strings.Contains(f.ran[0], w) {
				t.Errorf("%v: script has %q:\n%s", tc.vals, w, f.ran[0])
			}
		}
	}
}

// fakeStatefulSocat is a runtime API for one server, web_tls/web1, whose
// srv_admin_state lives in $FAKES/bits; "set server" updates it as HAProxy
// does (FMAINT 1, FDRAIN 8).
const fakeStatefulSocat = `read -r cmd
bits=$(cat "$FAKES/bits" 2>/dev/null || echo 0)
case $cmd in
"show servers state web_tls")
	echo 1
	echo "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight"
	echo "3 web_tls 1 web1 127.0.0.1 2 $bits 1"
	echo ;;
"show servers state "*) echo "Can't find backend."; echo ;;
"show stat -1 4 -1 typed") echo "S.3.1.0.pxname.1:KNS:str:web_tls"; echo "S.3.1.1.svname.1:KNS:str:web1"; echo "S.3.1.4.scur.1:MGP:u32:0"; echo ;;
"set server web_tls/web1 state ready") echo 0 > "$FAKES/bits"; echo ;;
"set server web_tls/web1 state drain") echo 8 > "$FAKES/bits"; echo ;;
"set server web_tls/web1 state maint") echo 1 > "$FAKES/bits"; echo ;;
"set server "*) echo "No such server."; echo ;;
esac`

func TestReversal(t *testing.T) {
	for _, tc := range []struct{ before, state string }{
		{"0", "drain"}, {"8", "ready"}, {"1", "ready"}, {"0", "maint"}, {"8", "maint"},
	} {
		t.Run(tc.before+" to "+tc.state, func(t *testing.T) {
			f := moduletest.FakeCommands(t, map[string]string{"socat": fakeStatefulSocat})
			f.Write(t, "bits", tc.before+"\n")
			sock := filepath.Join(t.TempDir(), "admin.sock")
			listenUnix(t, sock, false)
			mk := func() *Server {
				return build(t, map[string]cty.Value{"state": cty.StringVal(tc.state), "socket": cty.StringVal(sock), "wait": cty.False})
			}
			s := mk()
			if ch := moduletest.Check(t, s); ch == nil {
				t.Fatal("no change")
			}
			backup, undo, after := moduletest.Reversal(t, s, filepath.Join(t.TempDir(), "1"))
			if after != "" {
				t.Errorf("after = %q", after)
			}
			moduletest.MustRunFragment(t, "backup", backup)
			if err := s.Apply(context.Background(), &transporttest.Local{}); err != nil {
				t.Fatal(err)
			}
			if ch := moduletest.Check(t, mk()); ch != nil {
				t.Fatalf("after apply: %+v", *ch)
			}
			moduletest.MustRunFragment(t, "undo", undo)
			moduletest.MustRunFragment(t, "undo again", undo)
			st := parseState(moduletest.Probe(t, mk()).Stdout)
			if st.AdminBits != tc.before {
				t.Errorf("after undo: %+v, want bits %s", st, tc.before)
			}
		})
	}
}

func TestUndoWithoutHAProxy(t *testing.T) {
	moduletest.FakeCommands(t, map[string]string{"socat": fakeStatefulSocat})
	sock := filepath.Join(t.TempDir(), "admin.sock") // no socket: not running
	s := build(t, map[string]cty.Value{"state": cty.StringVal("drain"), "socket": cty.StringVal(sock)})
	dir := filepath.Join(t.TempDir(), "1")
	backup, undo, _ := moduletest.Reversal(t, s, dir)

	if res := moduletest.RunFragment(t, undo); res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "no saved state") {
		t.Errorf("undo without backup: exit %d, %s", res.ExitCode, res.Stderr)
	}
	// Backed up while HAProxy was not running: nothing to restore.
	moduletest.MustRunFragment(t, "backup", backup)
	moduletest.MustRunFragment(t, "undo", undo)

	// Backed up while running, undone after HAProxy stopped: nothing to do.
	listenUnix(t, sock, false)
	moduletest.MustRunFragment(t, "backup", backup)
	s2 := &Server{socket: filepath.Join(t.TempDir(), "gone.sock"), backend: s.backend, server: s.server, state: s.state}
	_, undo2, _ := s2.Reversal(dir)
	if res := moduletest.RunFragment(t, undo2); res.ExitCode != 0 || !strings.Contains(string(res.Stderr), "HAProxy is not running") {
		t.Errorf("undo with HAProxy stopped: exit %d, %s", res.ExitCode, res.Stderr)
	}
}
