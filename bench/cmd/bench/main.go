// Command bench measures skiff on the foobar.com stack (issue 6) against
// Ansible doing the same work (bench/ansible/site.yml, Ansible's own
// modules, run by Debian's ansible-playbook at its best: pipelining,
// ControlPersist, no facts, forks for every host) and against the floor.
//
// First converges: Ansible deploys site.yml to 4 fresh stack hosts (web1
// web2 db1 db2, local test hosts), timed once; then the site must answer
// over HTTPS through HAProxy, and `skiff plan` on those hosts is recorded
// (no change expected). Those hosts are removed; 4 fresh ones take the
// first converge's floor (converge.go: the same packages installed and the
// same large files copied by a plain script). Those are removed, 4 fresh ones start, and
// bin/skiff deploys playbooks/site.hcl to them (timed once). On the hosts
// skiff converged, after Ansible's own needs are installed (python3-apt,
// PyMySQL: site.yml's tag deps), ansible-playbook must report changed=0 on
// every host; then it measures:
//
//   - no-op `skiff apply --yes`, no-op `ansible-playbook site.yml` and the
//     floor (bench/floor: connect to every host and run `true`), taken in
//     turn, with ratios round by round; every Ansible run must be changed=0;
//   - `skiff plan` and `ansible-playbook --check --diff` (and the floor)
//     with one file drifted by hand (/etc/nginx/nginx.conf on web1), after
//     checking that both report that drift;
//   - SSH connections, sessions and sudo commands per host in one no-op run,
//     counted in the hosts' journals;
//   - skiff's peak memory (maximum RSS, from the kernel's accounting of the
//     finished process);
//   - where the hosts' CPU goes in a no-op (breakdown.go): the probe
//     helper's own account per part, against the hosts' and the floor's.
//
// Then the rolling upgrade (upgrade.go): playbooks/upgrade.hcl on the two
// web servers of a site of its own, under HTTPS load, with 2 and with 3 lb
// hosts, in seconds per server against the app's own start-up.
//
// Then the fan-out (fanout.go): 50 lightweight test hosts, the small role of
// bench/fanout for skiff and for Ansible on the first 10, 25 and 50 of
// them, no-op runs in turn with the floor, the cost of each extra host, a
// check that no connection failed (sshd's stock MaxStartups), skiff's peak
// memory at 50 hosts, and the curve drawn to bench/fanout.png.
//
// Last, the fleet (fleet.go): skiff's own cost per host on 100, 1,000 and
// 5,000 fake hosts served by bench/fleet in this process (the answers of
// one real converged host, recorded once and replayed), against the floor
// `skiff exec -- true`, directly and through a bastion, with the most
// connections waiting to log in at once on a host and at the bastion
// (sshd's MaxStartups), a profile of one run, and bench/fleet.png.
//
// It writes bench/RESULTS.md and removes its hosts at the end. Run it with
// `make bench` (root and a Docker engine; it needs bin/skiff);
// `-only upgrade`, `-only fanout` or `-only fleet` replaces only that section of
// RESULTS.md; `-only site` rewrites the rest and keeps those sections;
// `-only converge` takes first converges by skiff and by the plain script
// alone; `-only breakdown` measures the breakdown alone on fresh site hosts and
// replaces its section. `-only compare -a REV -b REV` measures two
// commits' skiff side by side (compare.go) in a section of its own, which
// the other phases keep.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

const playbook = "playbooks/site.hcl"

func main() {
	runs := flag.Int("n", 5, "counted runs of each timed command (after one warm-up)")
	out := flag.String("out", "bench/RESULTS.md", "results file, relative to the repository root")
	only := flag.String("only", "", "run one phase only: site; converge, upgrade, fanout, fleet, breakdown or compare (its section replaces the one in the results file)")
	revA := flag.String("a", "", "with -only compare: the commit before")
	revB := flag.String("b", "", "with -only compare: the commit after")
	keep := flag.Bool("keep", false, "keep the bench's folder (every run's log, the inventories) and print its path")
	flag.Parse()
	if *runs < 1 || flag.NArg() != 0 || !slices.Contains([]string{"", "site", "converge", "upgrade", "fanout", "fleet", "breakdown", "compare"}, *only) {
		fmt.Fprintln(os.Stderr, "usage: bench [-n RUNS] [-out FILE] [-keep] [-only site|converge|upgrade|fanout|fleet|breakdown|compare -a REV -b REV]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *runs, *out, *only, *revA, *revB, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench holds what every step needs.
type bench struct {
	root, dir string
	skiff     string // bin/skiff
	floor     string // the floor, built into dir
	inv       string
	c         *testhosts.Cluster
	ans       *ansibleSite // the Ansible inventory for c
	runs      int
}

func run(ctx context.Context, runs int, out, only, revA, revB string, keep bool) error {
	started := time.Now()
	root, err := testhosts.RepoRoot()
	if err != nil {
		return err
	}
	b := &bench{root: root, skiff: filepath.Join(root, "bin", "skiff"), runs: runs}
	if _, err := os.Stat(b.skiff); err != nil {
		return fmt.Errorf("bin/skiff missing: run make build first")
	}
	commit := skiffCommit(ctx, root)
	b.dir, err = os.MkdirTemp("", "skiff-bench-")
	if err != nil {
		return err
	}
	if keep {
		defer logf("kept %s", b.dir)
	} else {
		defer os.RemoveAll(b.dir)
	}

	b.floor = filepath.Join(b.dir, "floor")
	logf("building the floor")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.floor, "./bench/floor")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./bench/floor: %w", err)
	}

	if only == "compare" {
		return b.compareOnly(ctx, out, revA, revB)
	}
	if only == "fleet" {
		return b.fleetOnly(ctx, out)
	}
	if only == "breakdown" {
		return b.breakdownOnly(ctx, out, commit)
	}
	if only == "converge" {
		return b.convergeOnly(ctx, out, commit)
	}
	if only == "upgrade" {
		return b.upgradeOnly(ctx, out, commit)
	}
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		return fmt.Errorf("ansible-playbook missing: apt-get install -y ansible (make bench does)")
	}
	if only == "fanout" {
		return b.fanoutOnly(ctx, out)
	}

	r := &results{runs: runs}
	if err := b.ansibleFirstConverge(ctx, r); err != nil {
		return err
	}
	if r.convergeFloor, err = b.convergeFloor(ctx); err != nil {
		return err
	}

	defer b.removeHosts()
	names, groups, err := b.startSite(ctx, b.root)
	if err != nil {
		return err
	}
	r.hosts = len(names)
	if b.ans, err = prepareAnsible(b.c, groups, b.root, b.dir); err != nil {
		return err
	}
	defer b.ans.stopControlMasters(context.WithoutCancel(ctx))

	logf("first converge: skiff apply %s", playbook)
	first, err := b.once(ctx, "first-converge.log", b.skiffArgs("apply", "--yes")...)
	if err != nil {
		return err
	}
	if first.exit != 0 {
		return fmt.Errorf("first converge failed (exit %d):\n%s", first.exit, tail(first.log, 40))
	}
	r.firstConverge = first

	code, planOut, err := b.plan(ctx)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("skiff plan after the first converge exits %d, not 0 (no change):\n%s", code, planOut)
	}

	if err := b.ansibleOnSkiffHosts(ctx, r, names); err != nil {
		return err
	}

	logf("no-op: skiff apply, ansible-playbook and the floor in turn, %d runs each", runs)
	ansibleNoop := timed{name: "ansible-playbook", argv: b.ans.args(), log: "ansible-noop.log",
		check: func(m measurement) error {
			_, err := checkRecap(runOutput(m), names, noChange)
			return err
		}}
	skiffApply := timed{name: "skiff apply", argv: b.skiffArgs("apply", "--yes"), log: "skiff-apply.log", check: exitZero}
	s, err := b.turns(ctx, skiffApply, ansibleNoop, b.floorCmd())
	if err != nil {
		return err
	}
	r.noop, r.ansibleNoop, r.floor = s[0], s[1], s[2]
	bd, err := b.breakdown(ctx, len(names), b.skiffArgs("apply", "--yes"))
	if err != nil {
		return err
	}
	bd.commit = commit
	r.sections = append(r.sections, bd.markdown())
	if code, planOut, err = b.plan(ctx); err != nil {
		return err
	} else if code != 0 {
		return fmt.Errorf("skiff plan after the no-op runs exits %d, not 0:\n%s", code, planOut)
	}

	logf("counting SSH connections and sessions in one no-op run")
	r.sessions, err = b.countSessions(ctx)
	if err != nil {
		return err
	}

	logf("drifting /etc/nginx/nginx.conf on web1")
	if _, code, err := b.c.Exec(ctx, "web1", "sh", "-c", "echo '# drifted by hand (bench)' >> /etc/nginx/nginx.conf"); err != nil || code != 0 {
		return fmt.Errorf("drifting nginx.conf on web1: exit %d: %v", code, err)
	}
	code, planOut, err = b.plan(ctx)
	if err != nil {
		return err
	}
	r.driftSeen = code == 2 && strings.Contains(planOut, "/etc/nginx/nginx.conf") && strings.Contains(planOut, "drifted by hand")
	if !r.driftSeen {
		return fmt.Errorf("skiff plan does not report the drift of /etc/nginx/nginx.conf on web1 (exit %d):\n%s", code, planOut)
	}
	checkOut, err := b.once(ctx, "ansible-check-drift.log", b.ans.args("--check", "--diff")...)
	if err != nil {
		return err
	}
	if err := ansibleDriftSeen(runOutput(checkOut)); err != nil {
		return fmt.Errorf("ansible-playbook --check --diff does not report the drift of /etc/nginx/nginx.conf on web1: %w", err)
	}
	r.ansibleDriftSeen = true

	logf("plan with one file drifted: skiff plan, ansible-playbook --check --diff and the floor in turn, %d runs each", runs)
	skiffPlan := timed{name: "skiff plan", argv: b.skiffArgs("plan", "--detailed-exitcode"), log: "skiff-plan.log",
		check: func(m measurement) error {
			if m.exit != 2 {
				return fmt.Errorf("exited %d, not 2 (changes):\n%s", m.exit, tail(m.log, 20))
			}
			return nil
		}}
	ansibleCheck := timed{name: "ansible-playbook --check", argv: b.ans.args("--check", "--diff"), log: "ansible-check.log",
		check: func(m measurement) error { return ansibleDriftSeen(runOutput(m)) }}
	if s, err = b.turns(ctx, skiffPlan, ansibleCheck, b.floorCmd()); err != nil {
		return err
	}
	r.drift, r.ansibleDrift, r.driftFloor = s[0], s[1], s[2]

	path := filepath.Join(root, out)
	old, _ := os.ReadFile(path)
	if only != "site" {
		up, err := b.measureUpgrade(ctx)
		if err != nil {
			return err
		}
		up.commit = commit
		r.sections = append(r.sections, up.markdown())
		if err := b.fanout(ctx, r); err != nil {
			return err
		}
		fl, err := b.measureFleet(ctx)
		if err != nil {
			return err
		}
		r.sections = append(r.sections, fl.markdown())
	} else {
		// The fan-out and fleet sections of the last full run stay, with
		// their own dates: -only site measures the site alone.
		for _, h := range []string{upgradeHeading, "## Fan-out", "## Fleet"} {
			if sec := sectionOf(string(old), h); sec != "" {
				r.sections = append(r.sections, sec)
			}
		}
	}
	// Rounds of first converges against the plain script, and a
	// comparison of two commits, are only ever taken by -only converge
	// and -only compare.
	for _, h := range []string{convergeHeading, compareHeading} {
		if sec := sectionOf(string(old), h); sec != "" {
			r.sections = append(r.sections, sec)
		}
	}

	r.machine = machineInfo(ctx, commit)
	r.elapsed = time.Since(started)
	if err := os.WriteFile(path, []byte(r.markdown()), 0o644); err != nil {
		return err
	}
	fmt.Print(r.markdown())
	logf("wrote %s in %s", out, r.elapsed.Round(time.Second))
	return nil
}

// skiffArgs is bin/skiff CMD -i INV playbooks/site.hcl EXTRA...
func (b *bench) skiffArgs(cmd string, extra ...string) []string {
	return append([]string{b.skiff, cmd, "-i", b.inv, playbook}, extra...)
}

// plan runs skiff plan --detailed-exitcode once on the bench's hosts and
// returns its exit code and output.
func (b *bench) plan(ctx context.Context) (int, string, error) { return b.planOn(ctx, b.inv) }

// planOn runs skiff plan --detailed-exitcode once with inventory inv.
func (b *bench) planOn(ctx context.Context, inv string) (int, string, error) {
	cmd := exec.CommandContext(ctx, b.skiff, "plan", "-i", inv, playbook, "--detailed-exitcode")
	cmd.Dir = b.root
	outb, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(outb), nil
		}
		return -1, string(outb), err
	}
	return 0, string(outb), nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// startSite starts the site's hosts into b.c and writes b.inv for them,
// the app taken from appRoot's bin/. The caller defers b.removeHosts, also
// when it fails (hosts may have started).
func (b *bench) startSite(ctx context.Context, appRoot string) (names []string, groups map[string][]string, err error) {
	names, groups = testhosts.SiteHosts()
	b.c, err = testhosts.Start(ctx, testhosts.Options{Prefix: testhosts.UniquePrefix("skiff-bench"), Hosts: names, Dir: b.dir, Logf: logf})
	if err != nil {
		return nil, nil, err
	}
	extra, err := b.c.SiteSettings(ctx, appRoot, b.dir, "")
	if err != nil {
		return nil, nil, err
	}
	b.inv = filepath.Join(b.dir, "inventory.hcl")
	if err := b.c.WriteInventory(b.inv, groups, extra); err != nil {
		return nil, nil, err
	}
	return names, groups, nil
}

// removeHosts removes the hosts startSite started, if any.
func (b *bench) removeHosts() {
	if b.c == nil {
		return
	}
	logf("removing the hosts")
	if err := b.c.Close(); err != nil {
		logf("removing the hosts: %v", err)
	}
}
