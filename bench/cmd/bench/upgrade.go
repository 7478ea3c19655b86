package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// The rolling upgrade (issue 18, point 1): playbooks/upgrade.hcl on the
// site's two web servers under HTTPS load, with 2 and then 3 lb hosts
// draining and readying them, against the app's own start-up time.

const upgradeHeading = "## Rolling upgrade: seconds per web server"

// upgradeRound is one round: a rollout with each lb count, and the app's
// start-up once.
type upgradeRound struct {
	rollout map[int]measurement // by lb hosts
	load    map[int]loadCount
	startup time.Duration
}

type loadCount struct{ sent, failed, keptAlive int }

type upgradeResults struct {
	started time.Time
	commit  string
	runs    int
	servers int
	lbs     []int
	rounds  []upgradeRound
	errs    []string // the first failed requests, if any
}

// upgradeHosts is the site's hosts plus lb3, a load balancer only: with it
// the rollout drains and readies each server on 3 lb hosts.
func upgradeHosts() ([]string, map[string][]string) {
	names, groups := testhosts.SiteHosts()
	groups["lb3"] = []string{"lb"}
	return append(names, "lb3"), groups
}

func (b *bench) upgradeOnly(ctx context.Context, out, commit string) error {
	res, err := b.measureUpgrade(ctx)
	if err != nil {
		return err
	}
	res.commit = commit
	return b.writeSection(out, "rolling upgrade", res.markdown())
}

// measureUpgrade starts its own hosts (and removes them), deploys the site
// with 3 lb hosts, then takes b.runs rounds (one uncounted first) of: the
// rollout of a new version with 2 lb hosts, the same with 3, each under
// load through those lb hosts; the app's start-up on web1.
func (b *bench) measureUpgrade(ctx context.Context) (*upgradeResults, error) {
	names, groups := upgradeHosts()
	c, err := testhosts.Start(ctx, testhosts.Options{Prefix: testhosts.UniquePrefix("skiff-bench-up"), Hosts: names, Dir: b.dir, Logf: logf})
	if err != nil {
		return nil, err
	}
	defer func() {
		logf("removing the rolling upgrade's hosts")
		if err := c.Close(); err != nil {
			logf("removing the hosts: %v", err)
		}
	}()
	dir := filepath.Join(b.dir, "upgrade")
	extra, err := c.SiteSettings(ctx, b.root, dir, "")
	if err != nil {
		return nil, err
	}
	// Both inventories in one folder: they share .skiff/ (the CA, the state).
	inv := map[int]string{3: filepath.Join(dir, "inventory-3lb.hcl"), 2: filepath.Join(dir, "inventory-2lb.hcl")}
	if err := c.WriteInventory(inv[3], groups, extra); err != nil {
		return nil, err
	}
	two := map[string][]string{}
	for h, g := range groups {
		if h != "lb3" {
			two[h] = g
		}
	}
	if err := c.WriteInventory(inv[2], two, extra); err != nil {
		return nil, err
	}
	logf("rolling upgrade: deploying the site with 3 lb hosts")
	first, err := b.once(ctx, "upgrade-site.log", b.skiff, "apply", "-i", inv[3], playbook, "--yes")
	if err != nil {
		return nil, err
	}
	if first.exit != 0 {
		return nil, fmt.Errorf("deploying the site for the rolling upgrade (exit %d):\n%s", first.exit, tail(first.log, 40))
	}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(filepath.Join(dir, ".skiff", "pki", "ca.crt"))
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the site's CA: %v", err)
	}
	addr := func(host string) string {
		h, _ := c.Host(host)
		return h.Address
	}
	lbAddrs := map[int][]string{2: {addr("web1"), addr("web2")}, 3: {addr("web1"), addr("web2"), addr("lb3")}}

	res := &upgradeResults{started: time.Now(), runs: b.runs, servers: 2, lbs: []int{2, 3}}
	appBin := filepath.Join(b.root, "bin", "foobar-app")
	for i := 0; i <= b.runs; i++ {
		round := upgradeRound{rollout: map[int]measurement{}, load: map[int]loadCount{}}
		for _, n := range res.lbs {
			version := fmt.Sprintf("1.%d.%d", i+1, n)
			logf("rolling upgrade to %s with %d lb hosts (round %d of %d, the first uncounted)", version, n, i+1, b.runs+1)
			l := startSiteLoad(pool, lbAddrs[n])
			time.Sleep(time.Second)
			m, err := b.once(ctx, "upgrade.log", b.skiff, "apply", "-i", inv[n], "playbooks/upgrade.hcl",
				"-e", "app_version="+version, "-e", "app_binary="+appBin, "--yes")
			time.Sleep(time.Second)
			count, errs := l.finish()
			if err != nil {
				return nil, err
			}
			if m.exit != 0 {
				return nil, fmt.Errorf("upgrade to %s with %d lb hosts (exit %d):\n%s", version, n, m.exit, tail(m.log, 40))
			}
			if count.sent == 0 {
				return nil, fmt.Errorf("upgrade to %s: no request answered during the rollout", version)
			}
			round.rollout[n], round.load[n] = m, count
			if i > 0 && len(res.errs) < 5 {
				res.errs = append(res.errs, errs[:min(len(errs), 5-len(res.errs))]...)
			}
		}
		if round.startup, err = appStartup(ctx, c, "web1"); err != nil {
			return nil, err
		}
		if i > 0 {
			res.rounds = append(res.rounds, round)
		}
	}
	return res, nil
}

// appStartup restarts the app on host, load off, and times on the host
// itself how long until its /healthz answers 200: the app's own start-up.
func appStartup(ctx context.Context, c *testhosts.Cluster, host string) (time.Duration, error) {
	const script = `a=$(date +%s%N); systemctl restart foobar-app.service || exit 1
until curl -sf -o /dev/null --max-time 5 http://127.0.0.1:8080/healthz; do sleep 0.01; done
b=$(date +%s%N); echo $(( (b - a) / 1000 ))`
	out, code, err := c.Exec(ctx, host, "sh", "-c", script)
	if err != nil || code != 0 {
		return 0, fmt.Errorf("timing the app's start-up on %s: exit %d: %v %s", host, code, err, out)
	}
	us, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("timing the app's start-up on %s: %q", host, out)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// siteLoad sends HTTPS requests for /version through the lb hosts: half
// the workers on a new connection per request, half keeping one
// connection for every request.
type siteLoad struct {
	mu    sync.Mutex
	count loadCount
	errs  []string
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startSiteLoad(pool *x509.CertPool, lbs []string) *siteLoad {
	l := &siteLoad{stop: make(chan struct{})}
	for i := range 2 * len(lbs) {
		lb := lbs[i%len(lbs)]
		keepAlive := i >= len(lbs)
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: !keepAlive,
			TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "www.foobar.com"},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, net.JoinHostPort(lb, "443"))
			},
		}}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer client.CloseIdleConnections()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get("https://www.foobar.com/version")
				status := ""
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						status = resp.Status
					}
				}
				if err != nil {
					status = err.Error()
				}
				l.mu.Lock()
				l.count.sent++
				if keepAlive {
					l.count.keptAlive++
				}
				if status != "" {
					l.count.failed++
					l.errs = append(l.errs, lb+": "+status)
				}
				l.mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *siteLoad) finish() (loadCount, []string) {
	close(l.stop)
	l.wg.Wait()
	return l.count, l.errs
}

func (r *upgradeResults) markdown() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s\n\n", upgradeHeading)
	fmt.Fprintf(&s, "Measured %s UTC (skiff %s) by `make bench` or `go run ./bench/cmd/bench -only upgrade -n %d`: the site on its own hosts (web1 and web2 as lb and web, db1, db2, and lb3, a load balancer only), then one uncounted round and %d rounds of `skiff apply playbooks/upgrade.hcl` to a new version: once with 2 lb hosts (web1, web2: the inventory leaves lb3 out), once with 3. ",
		r.started.UTC().Format("2006-01-02 15:04"), r.commit, r.runs, r.runs)
	s.WriteString("During each rollout HTTPS clients ask for /version through each of those lb hosts, two per lb host: one on a new connection per request, one keeping its connection. ")
	s.WriteString("Seconds per server is the rollout's wall time (skiff's start to its exit) over the 2 web servers. ")
	s.WriteString("The app's start-up is timed on web1 with no load, on the host itself: from `systemctl restart foobar-app.service` to its first /healthz answer.\n\n")
	s.WriteString("| | median | min | max |\n|---|---|---|---|\n")
	for _, n := range r.lbs {
		xs := make([]float64, len(r.rounds))
		for i, rd := range r.rounds {
			xs[i] = rd.rollout[n].wall.Seconds() / float64(r.servers)
		}
		st := statOf(xs)
		fmt.Fprintf(&s, "| seconds per server, %d lb hosts | %.2f s | %.2f s | %.2f s |\n", n, st.med, st.min, st.max)
	}
	xs := make([]float64, len(r.rounds))
	for i, rd := range r.rounds {
		xs[i] = rd.startup.Seconds()
	}
	st := statOf(xs)
	fmt.Fprintf(&s, "| the app's start-up | %.3f s | %.3f s | %.3f s |\n\n", st.med, st.min, st.max)
	for _, n := range r.lbs {
		var c loadCount
		for _, rd := range r.rounds {
			c.sent += rd.load[n].sent
			c.failed += rd.load[n].failed
			c.keptAlive += rd.load[n].keptAlive
		}
		fmt.Fprintf(&s, "With %d lb hosts: %d requests during the counted rollouts (%d on kept connections), %d failed.\n", n, c.sent, c.keptAlive, c.failed)
	}
	if len(r.errs) > 0 {
		fmt.Fprintf(&s, "\nThe first failures: %s.\n", strings.Join(r.errs, "; "))
	}
	s.WriteString("\n")
	return s.String()
}
