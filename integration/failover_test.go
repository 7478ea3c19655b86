package integration

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// TestSwitchoverAndFailover moves the MySQL writer of a deployed site
// (web1 and web2 in lb and web, db1 the primary, db2 the replica) while
// workers post visits through both lb hosts, recording every id the site
// acknowledged:
//   - switchover.hcl makes db2 the writer and db1 its replica; every
//     acknowledged visit is on db2; the longest time without a successful
//     write is logged;
//   - until the inventory says so, the site playbook refuses both db hosts,
//     saying which edit to make; after it, the site plans clean;
//   - switchover.hcl again brings the original topology back;
//   - failover.hcl, after db1 is killed, makes db2 the writer; every
//     acknowledged visit is on db2; the time from the kill to the first
//     successful write is logged; db1, restarted, is read-only and takes
//     no app write, and the site playbook (inventory edited) makes it a
//     replica of db2, reseeding it since its history diverged.
func TestSwitchoverAndFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Docker")
	}
	s := newSuiteSite(t, testhosts.Bookworm, []string{"web1", "web2", "db1", "db2"}, map[string][]string{
		"web1": {"lb", "web"}, "web2": {"lb", "web"}, "db1": {"db_primary"}, "db2": {"db_replica"},
	})
	if r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes"); r.code != 0 {
		t.Fatalf("deploying the site: exit %d\n%s", r.code, r.stderr)
	}
	clients := []*siteClient{newSiteClient(t, s, "web1"), newSiteClient(t, s, "web2")}
	for _, c := range clients {
		c.post(t)
	}

	// switchover moves the writer to want under write load and checks
	// every acknowledged write is there.
	switchover := func(t *testing.T, from, to string) {
		plan := skiff(t, "plan", "-i", s.inv, "playbooks/switchover.hcl")
		out := plan.stdout + plan.stderr
		if plan.code != 0 || !strings.Contains(out, "stop writes: read_only OFF -> ON") || !strings.Contains(out, "promote to writer: stop replicating from "+s.addr[from]) {
			t.Fatalf("plan of the switchover: exit %d\n%s", plan.code, out)
		}
		load := startWriteLoad(clients, 2)
		time.Sleep(2 * time.Second)
		began := time.Now()
		r := skiff(t, "apply", "-i", s.inv, "playbooks/switchover.hcl", "--yes")
		took := time.Since(began)
		time.Sleep(2 * time.Second)
		load.stop()
		if r.code != 0 {
			t.Fatalf("switchover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		edit := "move " + to + " to db_primary and " + from + " to db_replica"
		if !strings.Contains(r.stdout+r.stderr, edit) {
			t.Errorf("the switchover does not say which inventory edit to make (%q):\n%s", edit, r.stdout)
		}
		gap, refused := load.longestGap(), load.refusedCount()
		t.Logf("switchover %s -> %s: apply took %v; %d writes acknowledged, %d refused; longest time without a successful write %v",
			from, to, took.Round(time.Millisecond), len(load.ids()), refused, gap.Round(time.Millisecond))
		if missing := missingOn(t, s, to, load.ids()); len(missing) > 0 {
			t.Errorf("%d acknowledged writes missing on the new writer %s: %v", len(missing), to, missing[:min(len(missing), 20)])
		}
		assertWriter(t, s, to, from)
	}

	t.Run("switchover under write load", func(t *testing.T) { switchover(t, "db1", "db2") })

	t.Run("the site refuses the moved writer until the inventory is edited", func(t *testing.T) {
		r := skiff(t, "plan", "-i", s.inv, "playbooks/site.hcl", "--output", "json")
		if r.code == 0 {
			t.Fatalf("site plan after the switchover, inventory not edited: exit 0, want a refusal")
		}
		for host, want := range map[string]string{
			"db1": "Edit the inventory: put db2 in db_primary and this host in db_replica",
			"db2": "this server is a writer (read_only OFF, replicating from nobody",
		} {
			if status, _, msg := r.json.host(host); status != "failed" || !strings.Contains(msg, want) {
				t.Errorf("%s: %s %q, want failed saying %q", host, status, msg, want)
			}
		}
		for _, web := range []string{"web1", "web2"} {
			if status, n, msg := r.json.host(web); status != "ok" || n != 0 {
				t.Errorf("%s: %s with %d changes %s", web, status, n, msg)
			}
		}
		moveWriter(t, s.inv, "db2", "db1")
		planClean(t, s)
	})

	t.Run("switchover again brings the original topology back", func(t *testing.T) {
		// Not while the replica does not replicate: the site would be
		// left without a writer.
		s.sql(t, "db1", "STOP SLAVE")
		r := skiff(t, "apply", "-i", s.inv, "playbooks/switchover.hcl", "--yes")
		if want := s.addr["db1"] + " does not replicate from this server"; r.code == 0 || !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("switchover to a replica that does not replicate: exit %d, want a refusal saying %q\n%s", r.code, want, r.stdout)
		}
		if got := s.sql(t, "db2", "SELECT @@global.read_only"); got != "0" {
			t.Fatalf("the refused switchover left db2 read-only (%s)", got)
		}
		s.sql(t, "db1", "START SLAVE")
		eventually(t, 30*time.Second, "db1 connected to db2 again", func() (bool, string) {
			got := s.sql(t, "db2", "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
			return got == "1", got
		})
		switchover(t, "db2", "db1")
		moveWriter(t, s.inv, "db1", "db2")
		planClean(t, s)
	})

	t.Run("failover after the primary is killed", func(t *testing.T) {
		load := startWriteLoad(clients, 2)
		time.Sleep(2 * time.Second)
		if err := s.c.Stop("db1"); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		r := skiff(t, "apply", "-i", s.inv, "playbooks/failover.hcl", "--yes", "-vv")
		applied := time.Since(killed)
		for line := range strings.SplitSeq(r.stderr, "\n") {
			if strings.Contains(line, " after ") && !strings.HasPrefix(strings.TrimSpace(line), "|") {
				t.Logf("failover: %s", line)
			}
		}
		if r.code != 0 {
			load.stop()
			t.Fatalf("failover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout+r.stderr, "move db2 to db_primary and db1 to db_replica") {
			t.Errorf("the failover does not say which inventory edit to make:\n%s", r.stdout)
		}
		deadline := time.Now().Add(30 * time.Second)
		for load.firstOKAfter(killed).IsZero() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		load.stop()
		first := load.firstOKAfter(killed)
		if first.IsZero() {
			t.Fatalf("no write acknowledged within 30 s of the failover; last refusal: %s", load.lastRefusal())
		}
		t.Logf("failover: apply took %v; first successful write %v after the kill; %d writes acknowledged, %d refused",
			applied.Round(time.Millisecond), first.Sub(killed).Round(time.Millisecond), len(load.ids()), load.refusedCount())
		if missing := missingOn(t, s, "db2", load.ids()); len(missing) > 0 {
			t.Errorf("%d acknowledged writes missing on the new writer db2: %v", len(missing), missing[:min(len(missing), 20)])
		}

		// The old primary comes back fenced: read-only, no app write.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := s.c.Restart(ctx, "db1"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "MariaDB back on db1", func() (bool, string) {
			out, code := hostExec(t, s.c, "db1", "mysql -N -B -e 'SELECT @@global.read_only'")
			return code == 0, out
		})
		if got := s.sql(t, "db1", "SELECT @@global.read_only"); got != "1" {
			t.Errorf("db1 came back with read_only = %s: not fenced", got)
		}
		time.Sleep(2 * time.Second) // the app has seen db1 again
		var after []int64
		for i := range 20 {
			after = append(after, clients[i%2].post(t))
		}
		if got := s.sql(t, "db1", "SELECT COUNT(*) FROM foobar.visits WHERE id IN ("+idList(after)+")"); got != "0" {
			t.Errorf("db1, back after the failover, took %s app writes", got)
		}
		if missing := missingOn(t, s, "db2", after); len(missing) > 0 {
			t.Errorf("writes after db1 came back missing on db2: %v", missing)
		}

		// A transaction that only db1 holds: its history diverges from
		// db2's, as an old primary's does when it committed what no
		// replica received. The rejoin must reseed it.
		s.sql(t, "db1", "INSERT INTO foobar.visits (at, client, served_by) VALUES (NOW(3), 'diverged', 'db1')")

		// The inventory edited, the site playbook makes db1 a replica.
		moveWriter(t, s.inv, "db2", "db1")
		r = skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes", "--output", "json")
		if r.code != 0 {
			t.Fatalf("site apply after the failover: exit %d\n%s", r.code, r.stderr)
		}
		for _, h := range r.json.Hosts {
			for _, ch := range h.Changes {
				if h.Name == "db1" && strings.Contains(ch.Task, "replication") {
					t.Logf("db1 rejoins: %s", ch.Summary)
				}
			}
		}
		assertWriter(t, s, "db2", "db1")
		if got := s.sql(t, "db1", "SELECT COUNT(*) FROM foobar.visits WHERE client = 'diverged'"); got != "0" {
			t.Errorf("db1 rejoined with the transaction only it held (%s rows): not reseeded", got)
		}
		eventually(t, 30*time.Second, "every acknowledged write on db1 again", func() (bool, string) {
			m := missingOn(t, s, "db1", append(load.ids(), after...))
			return len(m) == 0, strconv.Itoa(len(m)) + " missing"
		})
		planClean(t, s)
	})
}

// writeLoad posts visits through several clients until stopped, and
// records each acknowledged id and when its answer came.
type writeLoad struct {
	mu      sync.Mutex
	acked   []int64
	okAt    []time.Time
	refused int
	last    string
	started time.Time
	done    chan struct{}
	wg      sync.WaitGroup
}

func startWriteLoad(clients []*siteClient, workersPerClient int) *writeLoad {
	l := &writeLoad{started: time.Now(), done: make(chan struct{})}
	for _, c := range clients {
		for range workersPerClient {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				for {
					select {
					case <-l.done:
						return
					default:
					}
					id, code, body := c.tryPost()
					at := time.Now()
					l.mu.Lock()
					if code == http.StatusCreated {
						l.acked = append(l.acked, id)
						l.okAt = append(l.okAt, at)
					} else {
						l.refused++
						l.last = strconv.Itoa(code) + " " + body
					}
					l.mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
	}
	return l
}

func (l *writeLoad) stop() {
	close(l.done)
	l.wg.Wait()
}

func (l *writeLoad) ids() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

func (l *writeLoad) refusedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

func (l *writeLoad) lastRefusal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// longestGap is the longest time between two successful writes (or from
// the start to the first).
func (l *writeLoad) longestGap() time.Duration {
	l.mu.Lock()
	at := slices.Clone(l.okAt)
	l.mu.Unlock()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	prev, gap := l.started, time.Duration(0)
	for _, t := range at {
		gap = max(gap, t.Sub(prev))
		prev = t
	}
	return gap
}

// firstOKAfter is when the first write acknowledged after t was answered.
func (l *writeLoad) firstOKAfter(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, at := range l.okAt {
		if at.After(t) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first
}

// missingOn returns the ids that the visits table of host lacks.
func missingOn(t *testing.T, s *stackSite, host string, ids []int64) []int64 {
	t.Helper()
	out, code := hostExec(t, s.c, host, "mysql -N -B -e 'SELECT id FROM foobar.visits'")
	if code != 0 {
		t.Fatalf("%s: reading the visits: exit %d: %s", host, code, out)
	}
	have := map[int64]bool{}
	for line := range strings.SplitSeq(out, "\n") {
		if id, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64); err == nil {
			have[id] = true
		}
	}
	var missing []int64
	for _, id := range ids {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	return missing
}

// assertWriter checks that writer is writable with semi-sync's primary
// side on and replica read-only, replicating from it over verified TLS.
func assertWriter(t *testing.T, s *stackSite, writer, replica string) {
	t.Helper()
	if got := s.sql(t, writer, "SELECT @@global.read_only, @@global.rpl_semi_sync_master_enabled"); got != "0\t1" {
		t.Errorf("%s (the writer): read_only, semi-sync primary side = %q, want 0, 1", writer, got)
	}
	if got := s.sql(t, replica, "SELECT @@global.read_only, @@global.rpl_semi_sync_master_enabled"); got != "1\t0" {
		t.Errorf("%s (the replica): read_only, semi-sync primary side = %q, want 1, 0", replica, got)
	}
	eventually(t, 30*time.Second, replica+" replicating from "+writer, func() (bool, string) {
		st, _ := hostExec(t, s.c, replica, `mysql -e 'SHOW SLAVE STATUS\G'`)
		ok := strings.Contains(st, "Master_Host: "+s.addr[writer]+"\n") && strings.Contains(st, "Slave_IO_Running: Yes") &&
			strings.Contains(st, "Slave_SQL_Running: Yes") && strings.Contains(st, "Master_SSL_Verify_Server_Cert: Yes")
		return ok, st
	})
	if st, _ := hostExec(t, s.c, writer, `mysql -e 'SHOW SLAVE STATUS\G'`); strings.TrimSpace(st) != "" {
		t.Errorf("%s (the writer) still has replication configured:\n%s", writer, st)
	}
}

// moveWriter edits the inventory as skiff says to: writer in db_primary,
// replica in db_replica.
func moveWriter(t *testing.T, inv, writer, replica string) {
	t.Helper()
	b, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := ""
	for line := range strings.SplitSeq(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "host \""); ok {
			in, _, _ = strings.Cut(name, "\"")
		}
		if strings.HasPrefix(strings.TrimSpace(line), "groups") {
			switch in {
			case writer:
				line = `  groups  = ["db_primary"]`
			case replica:
				line = `  groups  = ["db_replica"]`
			}
		}
		out = append(out, line)
	}
	if err := os.WriteFile(inv, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// planClean checks that the site plans no change.
func planClean(t *testing.T, s *stackSite) {
	t.Helper()
	r := skiff(t, "plan", "-i", s.inv, "playbooks/site.hcl", "--output", "json")
	if r.code != 0 || r.json.Summary.Changed != 0 || r.json.Summary.Failed != 0 {
		for _, h := range r.json.Hosts {
			for _, ch := range h.Changes {
				t.Logf("%s would change %s/%s %s: %s", h.Name, ch.Play, ch.Role, ch.Task, ch.Summary)
			}
			if h.Error != "" {
				t.Logf("%s: %s", h.Name, h.Error)
			}
		}
		t.Fatalf("site plan after the inventory edit: exit %d, summary %+v", r.code, r.json.Summary)
	}
}

// TestFailoverPicksTheReplicaWithTheMostTransactions: with two replicas
// and no `to`, failover.hcl promotes the one that holds the most
// transactions and makes the other replicate from it. db3 stops
// replicating before the last writes, so db2 holds more; db1 is killed.
func TestFailoverPicksTheReplicaWithTheMostTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Docker")
	}
	s := newSuiteSite(t, testhosts.Bookworm, []string{"web1", "db1", "db2", "db3"}, map[string][]string{
		"web1": {"lb", "web"}, "db1": {"db_primary"}, "db2": {"db_replica"}, "db3": {"db_replica"},
	})
	if r := skiff(t, "apply", "-i", s.inv, "playbooks/site.hcl", "--yes"); r.code != 0 {
		t.Fatalf("deploying the site: exit %d\n%s", r.code, r.stderr)
	}
	web := newSiteClient(t, s, "web1")
	var acked []int64
	for range 5 {
		acked = append(acked, web.post(t))
	}
	eventually(t, 30*time.Second, "the first visits on db3", func() (bool, string) {
		m := missingOn(t, s, "db3", acked)
		return len(m) == 0, strconv.Itoa(len(m)) + " missing"
	})
	s.sql(t, "db3", "STOP SLAVE")
	for range 20 {
		acked = append(acked, web.post(t))
	}
	if err := s.c.Stop("db1"); err != nil {
		t.Fatal(err)
	}

	plan := skiff(t, "plan", "-i", s.inv, "playbooks/failover.hcl")
	out := plan.stdout + plan.stderr
	if plan.code != 0 || !strings.Contains(out, "db2 holds the most transactions") || !strings.Contains(out, "replicate from db2 ("+s.addr["db2"]+"), the new writer") {
		t.Fatalf("plan of the failover: exit %d\n%s", plan.code, out)
	}
	r := skiff(t, "apply", "-i", s.inv, "playbooks/failover.hcl", "--yes")
	if r.code != 0 {
		t.Fatalf("failover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := s.sql(t, "db2", "SELECT @@global.read_only"); got != "0" {
		t.Errorf("db2 (the most transactions) not promoted: read_only = %s", got)
	}
	if got := s.sql(t, "db3", "SELECT @@global.read_only"); got != "1" {
		t.Errorf("db3 writable after the failover: read_only = %s", got)
	}
	if missing := missingOn(t, s, "db2", acked); len(missing) > 0 {
		t.Errorf("%d acknowledged writes missing on the new writer db2: %v", len(missing), missing)
	}
	eventually(t, 60*time.Second, "the writer's visits on db3, replicating from db2", func() (bool, string) {
		acked = append(acked, web.post(t))
		st, _ := hostExec(t, s.c, "db3", `mysql -e 'SHOW SLAVE STATUS\G'`)
		m := missingOn(t, s, "db3", acked)
		return len(m) == 0 && strings.Contains(st, "Master_Host: "+s.addr["db2"]+"\n"), strconv.Itoa(len(m)) + " missing\n" + st
	})
}
