package haproxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// backend is an HTTP server on 127.0.0.1: /healthz answers 200 or 503 (see
// healthy); /hold holds the request until release is closed.
type backend struct {
	addr    string
	healthy atomic.Bool
	holding atomic.Int32
	release chan struct{}
	once    sync.Once
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{release: make(chan struct{})}
	b.healthy.Store(true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = l.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !b.healthy.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		b.holding.Add(1)
		defer b.holding.Add(-1)
		select {
		case <-b.release:
		case <-time.After(20 * time.Second):
		}
		fmt.Fprintln(w, "done")
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() {
		b.free()
		srv.Close()
	})
	return b
}

// free ends the held requests.
func (b *backend) free() { b.once.Do(func() { close(b.release) }) }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startHAProxy runs a real haproxy in the foreground with a frontend on
// 127.0.0.1 and backend "web" of web1 and web2 (HTTP checks of /healthz
// every 200ms), its admin socket in a temporary folder. It is killed when
// the test ends, or by stop.
func startHAProxy(t *testing.T, web1, web2 string) (sock string, front string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed (apt-get install haproxy)")
	}
	dir := t.TempDir()
	sock = filepath.Join(dir, "admin.sock")
	front = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf(`global
    stats socket %s mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fe
    bind %s
    default_backend web
backend web
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter 200ms fall 2 rise 2
    server web1 %s
    server web2 %s
`, sock, front, web1, web2)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", cfgPath)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("haproxy did not create %s:\n%s", sock, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return sock, front, stop
}

// liveState probes server of backend "web".
func liveState(t *testing.T, sock, server string) State {
	t.Helper()
	s := &Server{socket: sock, backend: "web", server: server, state: "ready"}
	return parseState(moduletest.Probe(t, s).Stdout)
}

// eventually polls cond every 50ms for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// TestLiveHAProxy drives a real HAProxy (skipped when not installed):
// drain with a session open, drain timeout, rollback, ready with a failing
// then passing health check, maint, the three socket clients, errors, and
// a stopped HAProxy.
func TestLiveHAProxy(t *testing.T) {
	web1, web2 := startBackend(t), startBackend(t)
	sock, front, stop := startHAProxy(t, web1.addr, web2.addr)
	mk := func(server, state string, extra ...any) *Server {
		vals := map[string]cty.Value{"socket": cty.StringVal(sock), "backend": cty.StringVal("web"), "server": cty.StringVal(server), "state": cty.StringVal(state)}
		for i := 0; i+1 < len(extra); i += 2 {
			vals[extra[i].(string)] = extra[i+1].(cty.Value)
		}
		return moduletest.MustBuild(t, New, moduletest.Args("haproxy_server", "h", vals)).(*Server)
	}
	apply := func(s *Server) error { return s.Apply(context.Background(), &transporttest.Local{}) }
	for _, srv := range []string{"web1", "web2"} {
		eventually(t, srv+" UP", func() bool { return liveState(t, sock, srv).Status == "UP" })
	}

	// hold sends requests through HAProxy until both backends hold one
	// (round robin), so that each server has a current session.
	hold := func() {
		for i := 0; i < 2; i++ {
			go func() {
				resp, err := http.Get("http://" + front + "/hold")
				if err == nil {
					resp.Body.Close()
				}
			}()
		}
		eventually(t, "both servers hold a request", func() bool { return web1.holding.Load() == 1 && web2.holding.Load() == 1 })
	}
	hold()
	if st := liveState(t, sock, "web1"); st.Scur != "1" {
		t.Fatalf("web1 should have a session: %+v", st)
	}

	t.Run("drain waits for sessions", func(t *testing.T) {
		s := mk("web1", "drain")
		ch := moduletest.Check(t, s)
		if ch == nil || ch.Summary != "drain web1 in web" {
			t.Fatalf("change = %+v", ch)
		}
		backup, undo, _ := moduletest.Reversal(t, s, filepath.Join(t.TempDir(), "1"))
		moduletest.MustRunFragment(t, "backup", backup)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- apply(s) }()
		select {
		case err := <-done:
			t.Fatalf("drain returned with a session open: %v", err)
		case <-time.After(1200 * time.Millisecond):
		}
		if st := liveState(t, sock, "web1"); st.Admin != "drain" || st.Status != "DRAIN" {
			t.Errorf("while draining: %+v", st)
		}
		web1.free()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("drain did not end when the session did")
		}
		if el := time.Since(start); el > 4*time.Second {
			t.Errorf("drain took %s", el)
		}
		if ch := moduletest.Check(t, mk("web1", "drain")); ch != nil {
			t.Errorf("drained, yet %+v", *ch)
		}
		// A drained server gets no new request: web2 gets them all.
		for i := 0; i < 4; i++ {
			resp, err := http.Get("http://" + front + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		if st := liveState(t, sock, "web1"); st.Scur != "0" {
			t.Errorf("web1 got sessions while drained: %+v", st)
		}

		moduletest.MustRunFragment(t, "undo", undo)
		if st := liveState(t, sock, "web1"); st.Forced != "ready" {
			t.Errorf("after undo: %+v", st)
		}
	})

	t.Run("drain timeout ends the wait", func(t *testing.T) {
		// web2 still holds its request.
		start := time.Now()
		if err := apply(mk("web2", "drain", "timeout", cty.StringVal("1s"))); err != nil {
			t.Fatalf("drain timeout is an error: %v", err)
		}
		if el := time.Since(start); el < time.Second || el > 4*time.Second {
			t.Errorf("drain with timeout 1s took %s", el)
		}
		if st := liveState(t, sock, "web2"); st.Admin != "drain" || st.Scur != "1" {
			t.Errorf("web2: %+v", st)
		}
		web2.free()
		if err := apply(mk("web2", "ready")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ready waits for UP", func(t *testing.T) {
		if err := apply(mk("web1", "drain", "wait", cty.False)); err != nil {
			t.Fatal(err)
		}
		web1.healthy.Store(false)
		eventually(t, "web1 DOWN", func() bool { return liveState(t, sock, "web1").Status == "DOWN" })
		err := apply(mk("web1", "ready", "timeout", cty.StringVal("1s")))
		want := "web1 not UP in web after 1s: status DOWN (L7STS 503: Layer7 wrong status)"
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v, want %q", err, want)
		}

		// The app comes back 1s after ready is set: the wait sees it UP.
		time.AfterFunc(time.Second, func() { web1.healthy.Store(true) })
		start := time.Now()
		if err := apply(mk("web1", "ready", "timeout", cty.StringVal("20s"))); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < time.Second {
			t.Errorf("ready returned after %s, before the server could be UP", el)
		}
		if st := liveState(t, sock, "web1"); st.Status != "UP" || st.Forced != "ready" {
			t.Errorf("after ready: %+v", st)
		}
		// No change to make, yet applied (the engine's if_changed): it
		// sets the state and waits again, successfully.
		s := mk("web1", "ready")
		if ch := moduletest.Check(t, s); ch != nil {
			t.Errorf("ready and UP, yet %+v", *ch)
		}
		if err := apply(s); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("maint", func(t *testing.T) {
		moduletest.Converge(t, func() module.Module { return mk("web2", "maint") })
		if st := liveState(t, sock, "web2"); st.Status != "MAINT" || st.Admin != "maint" {
			t.Errorf("web2: %+v", st)
		}
		if err := apply(mk("web2", "ready")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("clients", func(t *testing.T) {
		want := liveState(t, sock, "web1")
		for _, client := range []string{"socat", "nc", "python3"} {
			t.Run(client, func(t *testing.T) {
				onlyClient(t, client)
				if got := liveState(t, sock, "web1"); got != want {
					t.Errorf("%s: %+v, want %+v", client, got, want)
				}
				if err := apply(mk("web1", "drain", "wait", cty.False)); err != nil {
					t.Fatal(err)
				}
				if err := apply(mk("web1", "ready")); err != nil {
					t.Fatal(err)
				}
			})
		}
	})

	t.Run("unknown names", func(t *testing.T) {
		s := mk("web9", "drain")
		if _, err := s.Check(moduletest.Probe(t, s)); err == nil || !strings.Contains(err.Error(), `no server "web9" in backend "web"`) {
			t.Errorf("err = %v", err)
		}
		if err := apply(s); err == nil || !strings.Contains(err.Error(), `no server "web9"`) {
			t.Errorf("apply err = %v", err)
		}
		s = mk("web1", "drain")
		s.backend = "nope"
		if _, err := s.Check(moduletest.Probe(t, s)); err == nil || !strings.Contains(err.Error(), `no backend "nope"`) {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("stopped", func(t *testing.T) {
		stop()
		s := mk("web1", "drain")
		ch := moduletest.Check(t, s)
		if ch == nil || ch.Summary != "drain web1 in web (haproxy not running yet)" {
			t.Fatalf("change = %+v", ch)
		}
		if err := apply(s); err == nil || !strings.Contains(err.Error(), "is haproxy running?") {
			t.Errorf("apply err = %v", err)
		}
	})
}
