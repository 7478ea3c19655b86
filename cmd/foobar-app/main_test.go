package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// replicated is the data that fake servers share, as replication would
// make them share it: one table, one id sequence.
type replicated struct {
	mu     sync.Mutex
	visits []visit
}

// fakeServer is a database server in memory: read-only or not, reachable
// or not, counting the visits it stored itself.
type fakeServer struct {
	addr string
	data *replicated

	mu       sync.Mutex
	readOnly bool
	down     error // set: every call fails with it
	failNext error // set: the next Insert fails with it (after committing when commit)
	commit   bool
	inserted int
	recent   int // Recent calls
}

func (f *fakeServer) Addr() string { return f.addr }

func (f *fakeServer) set(readOnly bool, down error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readOnly, f.down = readOnly, down
}

func (f *fakeServer) state() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readOnly, f.down
}

func (f *fakeServer) ReadOnly(ctx context.Context) (bool, error) {
	ro, down := f.state()
	return ro, down
}

func (f *fakeServer) EnsureSchema(ctx context.Context) error {
	ro, down := f.state()
	if down != nil {
		return down
	}
	if ro {
		return errReadOnly
	}
	return nil
}

func (f *fakeServer) Insert(ctx context.Context, v visit) (int64, error) {
	ro, down := f.state()
	if down != nil {
		return 0, down
	}
	if ro {
		return 0, errReadOnly
	}
	f.mu.Lock()
	fail, commit := f.failNext, f.commit
	f.failNext = nil
	f.mu.Unlock()
	if fail != nil && !commit {
		return 0, fail
	}
	f.data.mu.Lock()
	v.ID = int64(len(f.data.visits) + 1)
	f.data.visits = append(f.data.visits, v)
	f.data.mu.Unlock()
	f.mu.Lock()
	f.inserted++
	f.mu.Unlock()
	if fail != nil {
		return 0, fail
	}
	return v.ID, nil
}

func (f *fakeServer) Visit(ctx context.Context, id int64) (visit, error) {
	if _, down := f.state(); down != nil {
		return visit{}, down
	}
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	if id < 1 || id > int64(len(f.data.visits)) {
		return visit{}, errNotFound
	}
	return f.data.visits[id-1], nil
}

func (f *fakeServer) Recent(ctx context.Context, n int) ([]visit, error) {
	if _, down := f.state(); down != nil {
		return nil, down
	}
	f.mu.Lock()
	f.recent++
	f.mu.Unlock()
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	out := slices.Clone(f.data.visits)
	slices.Reverse(out)
	return out[:min(n, len(out))], nil
}

func (f *fakeServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inserted
}

// newFakes is a primary (db1, writable) and a replica (db2, read-only).
func newFakes() (*fakeServer, *fakeServer) {
	data := &replicated{}
	return &fakeServer{addr: "db1:3306", data: data}, &fakeServer{addr: "db2:3306", data: data, readOnly: true}
}

// testApp is the app over fake servers, checked once as at start; with
// interval > 0 it also re-checks in the background, as it runs.
func testApp(t *testing.T, interval time.Duration, servers ...server) (*app, http.Handler) {
	t.Helper()
	c := newCluster(servers, time.Hour)
	c.recheck(context.Background(), 0)
	if interval > 0 {
		c.interval = interval
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go c.run(ctx)
	}
	a := &app{version: "test", hostname: "web1", db: c}
	return a, a.routes()
}

func do(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// postID posts a visit and wants 201 {"id": N}.
func postID(t *testing.T, h http.Handler) int64 {
	t.Helper()
	rec := do(t, h, "POST", "/visits")
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /visits: %d %s", rec.Code, rec.Body)
	}
	var got map[string]int64
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got) != 1 || got["id"] <= 0 {
		t.Fatalf("POST /visits answered %q, want {\"id\": N}", rec.Body)
	}
	if loc := rec.Header().Get("Location"); loc != "/visits/"+strconv.FormatInt(got["id"], 10) {
		t.Errorf("Location: %q", loc)
	}
	return got["id"]
}

func TestPostThenGetVisit(t *testing.T) {
	db1, db2 := newFakes()
	_, h := testApp(t, 0, db1, db2)
	first, second := postID(t, h), postID(t, h)
	if first == second {
		t.Fatalf("two posts got the same id %d", first)
	}
	rec := do(t, h, "GET", "/visits/"+strconv.FormatInt(second, 10))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /visits/%d: %d %s", second, rec.Code, rec.Body)
	}
	var v visit
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.ID != second || v.ServedBy != "web1" || v.Client == "" || v.At.IsZero() {
		t.Errorf("GET /visits/%d: %s", second, rec.Body)
	}
	for _, path := range []string{"/visits/99", "/visits/0", "/visits/-1", "/visits/abc"} {
		if rec := do(t, h, "GET", path); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
	if db1.count() != 2 || db2.count() != 0 {
		t.Errorf("writes: db1 %d, db2 %d; want 2 on the writable db1", db1.count(), db2.count())
	}
}

func TestWritesGoToTheWritableServerWhicheverItIs(t *testing.T) {
	db1, db2 := newFakes()
	db1.set(true, nil)
	db2.set(false, nil)
	_, h := testApp(t, 0, db1, db2)
	postID(t, h)
	if db1.count() != 0 || db2.count() != 1 {
		t.Errorf("writes: db1 %d, db2 %d; want the one on db2, the writable one", db1.count(), db2.count())
	}
}

// A promotion elsewhere: the next write meets the old writer read-only,
// and lands on the new one at once, once.
func TestWriteFollowsAPromotionAtOnce(t *testing.T) {
	db1, db2 := newFakes()
	_, h := testApp(t, 0, db1, db2) // no background check: only the write's
	postID(t, h)
	db1.set(true, nil)
	db2.set(false, nil)
	id := postID(t, h)
	if db1.count() != 1 || db2.count() != 1 {
		t.Errorf("writes: db1 %d, db2 %d; want 1 and 1", db1.count(), db2.count())
	}
	if rec := do(t, h, "GET", "/visits/"+strconv.FormatInt(id, 10)); rec.Code != http.StatusOK {
		t.Errorf("GET /visits/%d after the promotion: %d %s", id, rec.Code, rec.Body)
	}
}

// Without any write, the background check finds the new writer: reads of
// the writer (GET /visits/N) and healthz follow it too.
func TestBackgroundCheckFollowsAPromotion(t *testing.T) {
	db1, db2 := newFakes()
	a, h := testApp(t, 5*time.Millisecond, db1, db2)
	db1.set(true, nil)
	db2.set(false, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if w, _, _ := a.db.current(); w == server(db2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background check did not find db2 writable")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rec := do(t, h, "GET", "/healthz"); rec.Code != http.StatusOK {
		t.Errorf("healthz after the promotion: %d %s", rec.Code, rec.Body)
	}
	postID(t, h)
	if db2.count() != 1 {
		t.Errorf("writes on db2: %d, want 1", db2.count())
	}
}

// Two writable servers (the old primary still writable after a promotion):
// the app writes to neither and says why.
func TestTwoWritableServersTakeNoWrite(t *testing.T) {
	db1, db2 := newFakes()
	db2.set(false, nil)
	_, h := testApp(t, 0, db1, db2)
	rec := do(t, h, "POST", "/visits")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "more than one writable database server (db1:3306, db2:3306)") {
		t.Errorf("POST /visits with two writers: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, h, "GET", "/"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET / with two writers: %d", rec.Code)
	}
	if rec := do(t, h, "GET", "/healthz"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("healthz with two writers: %d", rec.Code)
	}
	if db1.count()+db2.count() != 0 {
		t.Errorf("writes: db1 %d, db2 %d; want none", db1.count(), db2.count())
	}
	// Once db1 is read-only, writes go to db2.
	db1.set(true, nil)
	postID(t, h)
	if db2.count() != 1 {
		t.Errorf("writes on db2: %d, want 1", db2.count())
	}
}

func TestNoWritableServer(t *testing.T) {
	db1, db2 := newFakes()
	db1.set(false, errors.New("connection refused"))
	_, h := testApp(t, 0, db1, db2)
	rec := do(t, h, "POST", "/visits")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "db1:3306: connection refused") || !strings.Contains(rec.Body.String(), "db2:3306: read-only") {
		t.Errorf("POST /visits without a writer: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, h, "GET", "/healthz"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("healthz without a writer: %d", rec.Code)
	}
	if rec := do(t, h, "GET", "/visits/1"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /visits/1 without a writer: %d", rec.Code)
	}
}

// A write whose connection broke may have committed: it is not run again
// (that could store the visit twice), the client gets 503.
func TestBrokenWriteIsNotRepeated(t *testing.T) {
	db1, db2 := newFakes()
	_, h := testApp(t, 0, db1, db2)
	db1.mu.Lock()
	db1.failNext, db1.commit = errors.New("invalid connection"), true
	db1.mu.Unlock()
	if rec := do(t, h, "POST", "/visits"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("POST /visits on a broken connection: %d %s", rec.Code, rec.Body)
	}
	if n := db1.count() + db2.count(); n != 1 {
		t.Errorf("the visit was stored %d times, want once", n)
	}
}

// The page writes on the writer and lists visits read from the replica;
// without a replica, from the writer; healthz needs only the writer.
func TestIndexReadsTheReplica(t *testing.T) {
	db1, db2 := newFakes()
	_, h := testApp(t, 0, db1, db2)
	rec := do(t, h, "GET", "/")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Visit number 1,") || !strings.Contains(rec.Body.String(), "<li>#1 ") {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Body)
	}
	if db2.recent != 1 || db1.recent != 0 {
		t.Errorf("recent visits read: db1 %d, db2 %d times; want from db2", db1.recent, db2.recent)
	}

	db1, db2 = newFakes()
	db2.set(true, errors.New("connection refused"))
	_, h = testApp(t, 0, db1, db2)
	if rec := do(t, h, "GET", "/"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<li>#1 ") {
		t.Errorf("GET / without the replica: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, h, "GET", "/healthz"); rec.Code != http.StatusOK {
		t.Errorf("healthz without the replica: %d %s", rec.Code, rec.Body)
	}
}

func TestNoDatabaseConfigured(t *testing.T) {
	a := &app{version: "test"}
	h := a.routes()
	for _, r := range []struct{ method, path string }{{"GET", "/"}, {"POST", "/visits"}, {"GET", "/visits/1"}, {"GET", "/healthz"}} {
		if rec := do(t, h, r.method, r.path); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s without a database: %d", r.method, r.path, rec.Code)
		}
	}
}

func TestParseHosts(t *testing.T) {
	got, err := parseHosts("10.0.0.2, 10.0.0.3:3307,db3.example:3306 2001:db8::1,[2001:db8::2]:3306,10.0.0.2")
	want := []string{"10.0.0.2:3306", "10.0.0.3:3307", "db3.example:3306", "[2001:db8::1]:3306", "[2001:db8::2]:3306"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("parseHosts: %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"", " , ", "user@host", "host:", "tcp(host)"} {
		if got, err := parseHosts(bad); err == nil {
			t.Errorf("parseHosts(%q) = %q, want an error", bad, got)
		}
	}
}
