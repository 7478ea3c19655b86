package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// compare is `bench -only compare -a REV -b REV`: skiff built from two
// commits that deploy the same thing (their roles, playbooks and app are
// identical, else it refuses), measured side by side on the same four
// converged site hosts with the floor, so that a change inside skiff (a
// restructuring, an optimisation) is judged by its own figures rather than
// against results taken on another day.
//
// Each revision is checked out in a temporary worktree and built there
// the same way (a static `go build ./cmd/skiff`: no embedded helpers, each
// binary is its own hosts' probe helper), and runs its own playbooks. A
// host keeps one helper, so each counted run follows two uncounted ones of
// the same binary: the first puts its helper back, the second reads the
// hosts knowing it is there (a skiff whose kept facts, read before the
// copy, do not say so would otherwise probe with sh in the counted run:
// not the steady state of a no-op); the order of the two alternates
// round by round, and ratios are taken round by round.
type compare struct {
	b    *bench
	a, z revision // before and after
}

// revision is one side of the comparison.
type revision struct {
	rev, commit string // as asked; the commit it names, abbreviated
	dir         string // its worktree
	skiff       string
}

// deployed are the paths whose content decides what the site deploys.
var deployed = []string{"roles", "playbooks", "cmd/foobar-app"}

func (b *bench) compareOnly(ctx context.Context, out, revA, revB string) error {
	if revA == "" || revB == "" {
		return errors.New("-only compare needs -a REV and -b REV (the commits before and after)")
	}
	if err := git(ctx, b.root, append([]string{"diff", "--quiet", revA, revB, "--"}, deployed...)...); err != nil {
		return fmt.Errorf("%s and %s deploy different things (git diff of %s is not empty, or a revision is unknown): their no-op runs would not be the same work", revA, revB, strings.Join(deployed, ", "))
	}
	cmp := &compare{b: b}
	var err error
	for _, r := range []struct {
		rev  string
		into *revision
	}{{revA, &cmp.a}, {revB, &cmp.z}} {
		*r.into, err = b.checkout(ctx, r.rev)
		if r.into.dir != "" {
			defer b.removeWorktree(r.into.dir)
		}
		if err != nil {
			return err
		}
	}
	res, err := cmp.measure(ctx)
	if err != nil {
		return err
	}
	return b.writeSection(out, "comparison", res.markdown())
}

// checkout makes a worktree of rev and builds its skiff and app there.
func (b *bench) checkout(ctx context.Context, rev string) (revision, error) {
	r := revision{rev: rev, dir: filepath.Join(b.dir, "rev-"+strings.NewReplacer("/", "-", ".", "-").Replace(rev))}
	if err := git(ctx, b.root, "worktree", "add", "--detach", r.dir, rev); err != nil {
		return revision{}, fmt.Errorf("git worktree add %s: %w", rev, err)
	}
	commit, err := exec.CommandContext(ctx, "git", "-C", r.dir, "rev-parse", "--short=7", "HEAD").Output()
	if err != nil {
		return r, err
	}
	r.commit = strings.TrimSpace(string(commit))
	r.skiff = filepath.Join(r.dir, "bin", "skiff")
	logf("building skiff and the app at %s (%s)", rev, r.commit)
	for _, target := range []struct{ out, pkg string }{{r.skiff, "./cmd/skiff"}, {filepath.Join(r.dir, "bin", "foobar-app"), "./cmd/foobar-app"}} {
		build := exec.CommandContext(ctx, "go", "build", "-o", target.out, target.pkg)
		build.Dir, build.Stdout, build.Stderr = r.dir, os.Stderr, os.Stderr
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := build.Run(); err != nil {
			return r, fmt.Errorf("go build %s at %s: %w", target.pkg, rev, err)
		}
	}
	return r, nil
}

func (b *bench) removeWorktree(dir string) {
	if err := git(context.Background(), b.root, "worktree", "remove", "--force", dir); err != nil {
		logf("removing the worktree %s: %v", dir, err)
	}
}

func git(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// compareHeading starts the results file's section of a comparison.
const compareHeading = "## Before and after"

// compareResults are the figures of one comparison.
type compareResults struct {
	a, z          revision
	hosts, runs   int
	before, after series
	floor         series
	started       time.Time
	elapsed       time.Duration
}

// measure starts the site hosts, converges them with the first revision,
// checks that the second plans no change there, and takes the rounds.
func (cmp *compare) measure(ctx context.Context) (*compareResults, error) {
	b := cmp.b
	res := &compareResults{a: cmp.a, z: cmp.z, runs: b.runs, started: time.Now()}
	defer b.removeHosts()
	// Both revisions deploy the app built at the first: the same bytes.
	names, _, err := b.startSite(ctx, cmp.a.dir)
	if err != nil {
		return nil, err
	}
	res.hosts = len(names)
	logf("first converge with %s", cmp.a.rev)
	first, err := b.once(ctx, "compare-first-converge.log", cmp.args(cmp.a, "apply", "--yes")...)
	if err != nil {
		return nil, err
	}
	if first.exit != 0 {
		return nil, fmt.Errorf("first converge with %s failed (exit %d):\n%s", cmp.a.rev, first.exit, tail(first.log, 40))
	}
	for _, r := range []revision{cmp.z, cmp.a} {
		if m, err := b.once(ctx, "compare-plan.log", cmp.args(r, "plan", "--detailed-exitcode")...); err != nil {
			return nil, err
		} else if m.exit != 0 {
			return nil, fmt.Errorf("skiff plan at %s on the converged hosts exits %d, not 0: not the same work:\n%s", r.rev, m.exit, tail(m.log, 30))
		}
	}
	logf("no-op: %s and %s (each after two uncounted runs of its own) and the floor, %d rounds", cmp.a.rev, cmp.z.rev, b.runs)
	before := timed{name: cmp.a.commit, argv: cmp.args(cmp.a, "apply", "--yes"), log: "compare-a.log", check: exitZero}
	after := timed{name: cmp.z.commit, argv: cmp.args(cmp.z, "apply", "--yes"), log: "compare-b.log", check: exitZero}
	for i := 1; i <= b.runs; i++ {
		order := []*timed{&before, &after}
		if i%2 == 0 {
			order = []*timed{&after, &before}
		}
		got := map[*timed]measurement{}
		for _, t := range order {
			for _, counted := range []bool{false, false, true} {
				m, err := b.onceHWM(ctx, t.log, t.argv...)
				if err != nil {
					return nil, err
				}
				if err := t.check(m); err != nil {
					return nil, fmt.Errorf("%s (round %d): %w", t.name, i, err)
				}
				if counted {
					got[t] = m
				}
			}
		}
		fl, err := b.onceHWM(ctx, "floor.log", b.floorCmd().argv...)
		if err != nil {
			return nil, err
		}
		if err := exitZero(fl); err != nil {
			return nil, fmt.Errorf("floor (round %d): %w", i, err)
		}
		res.before.list = append(res.before.list, got[&before])
		res.after.list = append(res.after.list, got[&after])
		res.floor.list = append(res.floor.list, fl)
		logf("  round %d: %s %.2fs, %s %.2fs, floor %.2fs", i, before.name, got[&before].wall.Seconds(), after.name, got[&after].wall.Seconds(), fl.wall.Seconds())
	}
	res.elapsed = time.Since(res.started)
	return res, nil
}

// args is r's skiff CMD on the bench's inventory with r's own playbook.
func (cmp *compare) args(r revision, cmd string, extra ...string) []string {
	return append([]string{r.skiff, cmd, "-i", cmp.b.inv, filepath.Join(r.dir, playbook)}, extra...)
}

// cpuRatio is the ratio a/b of the hosts' CPU, taken pair by pair.
func cpuRatio(a, b series) stat {
	xs := make([]float64, 0, len(a.list))
	for i := range a.list {
		if i < len(b.list) && b.list[i].hostCPU > 0 {
			xs = append(xs, a.list[i].hostCPU.Seconds()/b.list[i].hostCPU.Seconds())
		}
	}
	return statOf(xs)
}

func (r *compareResults) markdown() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s\n\n%s (before) and %s (after), side by side. ", compareHeading, r.a.commit, r.z.commit)
	fmt.Fprintf(&s, "Measured %s UTC by `go run ./bench/cmd/bench -only compare -a %s -b %s -n %d`: skiff built from each commit (a static `go build ./cmd/skiff`, each its own probe helper), each with its own `%s` (the two commits' roles, playbooks and app are identical), a no-op `skiff apply --yes` on the same %d converged site hosts, %d rounds; in each round each binary runs twice uncounted (the first puts its probe helper back on the hosts, the second finds it there) then once counted, the two in alternating order, then the floor. Ratios are taken round by round.\n\n",
		r.started.UTC().Format("2006-01-02 15:04"), r.a.rev, r.z.rev, r.runs, playbook, r.hosts, r.runs)
	s.WriteString("| measure | median | min | max |\n|---|---|---|---|\n")
	row := func(name, v string) { fmt.Fprintf(&s, "| %s | %s |\n", name, v) }
	row("no-op, before ("+r.a.commit+")", secs(r.before.wall()))
	row("no-op, after ("+r.z.commit+")", secs(r.after.wall()))
	row("floor", secs(r.floor.wall()))
	row("**after / before** (round by round)", times(ratio(r.after, r.before)))
	row("before / floor", times(ratio(r.before, r.floor)))
	row("after / floor", times(ratio(r.after, r.floor)))
	row("hosts' CPU, before", secs(r.before.hostCPU()))
	row("hosts' CPU, after", secs(r.after.hostCPU()))
	row("hosts' CPU, floor", secs(r.floor.hostCPU()))
	row("**hosts' CPU after / before** (round by round)", times(cpuRatio(r.after, r.before)))
	row("skiff CPU (user+sys), before", secs(r.before.cpu()))
	row("skiff CPU (user+sys), after", secs(r.after.cpu()))
	row("skiff peak RSS (VmHWM), before", mib(r.before.rssMiB()))
	row("skiff peak RSS (VmHWM), after", mib(r.after.rssMiB()))
	row("floor peak RSS (VmHWM)", mib(r.floor.rssMiB()))
	fmt.Fprintf(&s, "\nThe comparison took %s, host start-up included.\n\n", r.elapsed.Round(time.Second))
	return s.String()
}
