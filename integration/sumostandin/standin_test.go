package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/sumostandin/collector"
)

const (
	testAccessID  = "su7Ab3CdEf"
	testAccessKey = "k3y-that-must-never-be-logged-0123456789"
	testSource    = "nginx-access"
	testCategory  = "prod/web/nginx"
	testHost      = "web1"
)

// request is one POST the receiver got.
type request struct {
	path, user, pass     string
	name, category, host string
	lines                []string
}

// receiver stands in for the Sumo Logic HTTP endpoint.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []request
	fail int // answer 503 to this many more requests
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body bytes.Buffer
		body.ReadFrom(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail > 0 {
			r.fail--
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		user, pass, _ := req.BasicAuth()
		r.reqs = append(r.reqs, request{
			path: req.URL.Path, user: user, pass: pass,
			name: req.Header.Get("X-Sumo-Name"), category: req.Header.Get("X-Sumo-Category"), host: req.Header.Get("X-Sumo-Host"),
			lines: strings.Split(strings.TrimSuffix(body.String(), "\n"), "\n"),
		})
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func (r *receiver) lines(source string) []string {
	var out []string
	for _, q := range r.requests() {
		if q.name == source {
			out = append(out, q.lines...)
		}
	}
	return out
}

func (r *receiver) failNext(n int) {
	r.mu.Lock()
	r.fail = n
	r.mu.Unlock()
}

// syncBuffer collects the daemon's log from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one collector installation in a temp dir.
type env struct {
	dir, logPath, config, data string
	rcv                        *receiver
	logs                       syncBuffer
}

// newEnv writes user.properties (sources given relative to it) and a
// sources JSON whose one LocalFile source follows pathExpression (default:
// dir/access.log).
func newEnv(t *testing.T, pathExpression string) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), rcv: newReceiver(t)}
	e.logPath = filepath.Join(e.dir, "access.log")
	if pathExpression == "" {
		pathExpression = e.logPath
		mustWrite(t, e.logPath, nil) // the daemon follows it from its (empty) end
	}
	e.config = filepath.Join(e.dir, "config", "user.properties")
	e.data = filepath.Join(e.dir, "data")
	sources := map[string]any{
		"api.version": "v1",
		"sources": []map[string]any{
			{"sourceType": "LocalFile", "name": testSource, "pathExpression": pathExpression, "category": testCategory},
			{"sourceType": "SystemStats", "name": "stats"},
		},
	}
	js, _ := json.Marshal(sources)
	mustWrite(t, filepath.Join(e.dir, "config", "sources.json"), js)
	props := fmt.Sprintf("# written by the test\nname=%s\naccessid=%s\naccesskey=%s\nsources=sources.json\nurl=%s/\nephemeral=true\n",
		testHost, testAccessID, testAccessKey, strings.Replace(e.rcv.srv.URL, ":", `\:`, 1))
	mustWrite(t, e.config, []byte(props))
	return e
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// start runs the collector in-process; the returned func stops it the way
// SIGTERM does and waits for it.
func (e *env) start(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(ctx, collector.Options{
			ConfigPath:  e.config,
			DataDir:     e.data,
			Interval:    40 * time.Millisecond,
			MaxBackoff:  150 * time.Millisecond,
			RotateGrace: 300 * time.Millisecond,
			Logger:      slog.New(slog.NewTextHandler(&e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("collector.Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFollowing waits until offsets.json records a followed file for the
// source, so that lines appended from now on count as new.
func (e *env) waitFollowing(t *testing.T, n int) {
	t.Helper()
	eventually(t, 5*time.Second, func() string {
		data, err := os.ReadFile(filepath.Join(e.data, "offsets.json"))
		if err != nil {
			return err.Error()
		}
		var of struct{ Sources map[string][]json.RawMessage }
		json.Unmarshal(data, &of)
		if got := len(of.Sources[testSource]); got < n {
			return fmt.Sprintf("following %d files, want %d", got, n)
		}
		return ""
	})
}

// waitLines waits until the receiver has exactly want for the test source,
// in order, and checks that nothing more arrives shortly after.
func (e *env) waitLines(t *testing.T, want []string) {
	t.Helper()
	check := func() string {
		got := e.rcv.lines(testSource)
		if slices.Equal(got, want) {
			return ""
		}
		return fmt.Sprintf("received %d lines %q,\nwant %d lines %q", len(got), got, len(want), want)
	}
	eventually(t, 10*time.Second, check)
	time.Sleep(200 * time.Millisecond)
	if msg := check(); msg != "" {
		t.Fatalf("after settling: %s", msg)
	}
}

func eventually(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func TestDeliversNewLinesWithAuthAndHeaders(t *testing.T) {
	e := newEnv(t, "")
	appendLines(t, e.logPath, seq("old", 1, 3)...) // before the daemon: not sent
	e.start(t)
	e.waitFollowing(t, 1)

	appendLines(t, e.logPath, seq("new", 1, 5)...)
	// A partial line is held back until its newline arrives.
	f, _ := os.OpenFile(e.logPath, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("half")
	e.waitLines(t, seq("new", 1, 5))
	f.WriteString(" a line\n")
	f.Close()
	e.waitLines(t, append(seq("new", 1, 5), "half a line"))

	for _, q := range e.rcv.requests() {
		if q.path != collector.ReceiverPath || q.user != testAccessID || q.pass != testAccessKey ||
			q.name != testSource || q.category != testCategory || q.host != testHost {
			t.Errorf("request %+v: want path %s, basic auth %s:<key>, name %s, category %s, host %s",
				q, collector.ReceiverPath, testAccessID, testSource, testCategory, testHost)
		}
	}
	if strings.Contains(e.logs.String(), testAccessKey) {
		t.Error("the access key appears in the log")
	}
	if !strings.Contains(e.logs.String(), "SystemStats") {
		t.Error("the unsupported source type was not reported")
	}
}

func TestRestartNeitherResendsNorLoses(t *testing.T) {
	e := newEnv(t, "")
	stop := e.start(t)
	e.waitFollowing(t, 1)
	appendLines(t, e.logPath, seq("a", 1, 5)...)
	e.waitLines(t, seq("a", 1, 5))

	stop()
	appendLines(t, e.logPath, seq("b", 1, 5)...) // written while stopped
	e.start(t)
	appendLines(t, e.logPath, seq("c", 1, 3)...)
	e.waitLines(t, slices.Concat(seq("a", 1, 5), seq("b", 1, 5), seq("c", 1, 3)))
}

func TestRestartsUnderContinuousWrites(t *testing.T) {
	e := newEnv(t, "")
	stop := e.start(t)
	e.waitFollowing(t, 1)

	const n = 400
	written := make(chan struct{})
	go func() {
		defer close(written)
		f, err := os.OpenFile(e.logPath, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for i := 1; i <= n; i++ {
			fmt.Fprintf(f, "w-%d\n", i)
			time.Sleep(time.Millisecond)
		}
	}()
	for range 4 {
		time.Sleep(70 * time.Millisecond)
		stop()
		stop = e.start(t)
	}
	<-written
	e.waitLines(t, seq("w", 1, n))
}

func TestRetriesWithoutLoss(t *testing.T) {
	e := newEnv(t, "")
	e.start(t)
	e.waitFollowing(t, 1)
	e.rcv.failNext(4)
	appendLines(t, e.logPath, seq("r", 1, 3)...)
	time.Sleep(100 * time.Millisecond)
	appendLines(t, e.logPath, seq("r", 4, 6)...)
	e.waitLines(t, seq("r", 1, 6))
	logs := e.logs.String()
	if !strings.Contains(logs, "delivery failed") {
		t.Errorf("failures were not logged:\n%s", logs)
	}
	if strings.Contains(logs, testAccessKey) {
		t.Error("the access key appears in the log")
	}
}

func TestEndpointDownAtShutdown(t *testing.T) {
	e := newEnv(t, "")
	stop := e.start(t)
	e.waitFollowing(t, 1)
	e.rcv.failNext(1 << 30)
	appendLines(t, e.logPath, seq("d", 1, 3)...)
	eventually(t, 5*time.Second, func() string {
		if !strings.Contains(e.logs.String(), "delivery failed") {
			return "no failed delivery yet"
		}
		return ""
	})
	stop()
	e.rcv.failNext(0)
	e.start(t)
	e.waitLines(t, seq("d", 1, 3))
}

func TestRotationByRename(t *testing.T) {
	e := newEnv(t, "")
	e.start(t)
	e.waitFollowing(t, 1)
	appendLines(t, e.logPath, seq("r", 1, 3)...)
	e.waitLines(t, seq("r", 1, 3))

	// logrotate renames; the writer keeps writing to the old file until it
	// reopens its log, then writes to a new file at the path.
	if err := os.Rename(e.logPath, e.logPath+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, e.logPath+".1", seq("r", 4, 5)...)
	time.Sleep(100 * time.Millisecond)
	appendLines(t, e.logPath+".1", "r-6")
	appendLines(t, e.logPath, seq("r", 7, 9)...)
	e.waitLines(t, seq("r", 1, 9))

	// Once drained and past its grace period the old file is let go.
	eventually(t, 5*time.Second, func() string {
		data, _ := os.ReadFile(filepath.Join(e.data, "offsets.json"))
		if strings.Contains(string(data), "access.log.1") {
			return "the rotated file is still followed: " + string(data)
		}
		return ""
	})
	appendLines(t, e.logPath, "r-10")
	e.waitLines(t, seq("r", 1, 10))
}

func TestRotationByCopyTruncate(t *testing.T) {
	e := newEnv(t, "")
	e.start(t)
	e.waitFollowing(t, 1)
	long := seq("a-long-line-written-before-the-truncation", 1, 3)
	appendLines(t, e.logPath, long...)
	e.waitLines(t, long)
	if err := os.Truncate(e.logPath, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, e.logPath, seq("t", 1, 2)...)
	e.waitLines(t, append(long, seq("t", 1, 2)...))
}

func TestRotationWhileStopped(t *testing.T) {
	e := newEnv(t, "")
	stop := e.start(t)
	e.waitFollowing(t, 1)
	appendLines(t, e.logPath, "x-1")
	e.waitLines(t, []string{"x-1"})
	stop()

	appendLines(t, e.logPath, "x-2", "x-3")
	if err := os.Rename(e.logPath, e.logPath+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, e.logPath, "y-1", "y-2")
	e.start(t)
	e.waitLines(t, []string{"x-1", "x-2", "x-3", "y-1", "y-2"})
}

func TestFileAppearingLaterIsReadFromStart(t *testing.T) {
	e := newEnv(t, "")
	if err := os.Remove(e.logPath); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	time.Sleep(150 * time.Millisecond) // the daemon has seen the source, without a file
	appendLines(t, e.logPath, seq("late", 1, 3)...)
	e.waitLines(t, seq("late", 1, 3))
}

func TestGlobSource(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "*.log"))
	a := filepath.Join(dir, "a.log")
	appendLines(t, a, "a-old") // present at the first scan: followed from its end
	e.start(t)
	e.waitFollowing(t, 1)
	appendLines(t, a, "a-1")
	e.waitLines(t, []string{"a-1"})

	b := filepath.Join(dir, "b.log") // appears later: read from its start
	appendLines(t, b, "b-1", "b-2")
	e.waitLines(t, []string{"a-1", "b-1", "b-2"})

	// Renamed within the glob: the same file, nothing sent again.
	if err := os.Rename(a, filepath.Join(dir, "c.log")); err != nil {
		t.Fatal(err)
	}
	appendLines(t, filepath.Join(dir, "c.log"), "a-2")
	e.waitLines(t, []string{"a-1", "b-1", "b-2", "a-2"})
}
