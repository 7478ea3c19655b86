package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/internal/hostprobe"
)

// breakdownHeading starts the results file's section on where the hosts'
// CPU goes in a no-op.
const breakdownHeading = "## Where the hosts' CPU goes in a no-op"

// The breakdown: rounds of a no-op `skiff apply --yes -vv` with the probe
// helper's CPU account asked (hostprobe.CPUEnv), then the floor, on the
// converged site hosts. The hosts' CPU of each run comes from their
// cgroups; the helper's own account (getrusage, per part: its start-up,
// each native kind, each task kind run with sh) is read from -vv's
// stderr lines and summed over the hosts. What is neither the floor nor
// the helper is the rest: the session's own script (the lock's check, the
// facts), the servers the helper asks (systemd, the database) and the
// hosts' background.

// breakdownRun is one counted round.
type breakdownRun struct {
	skiff, floor measurement
	parts        map[string]float64 // ms summed over the hosts, by part
	items        map[string]int     // items per part, summed over the hosts
	helperRuns   int                // helper invocations that accounted
}

// breakdownResults are the rounds of one breakdown.
type breakdownResults struct {
	hosts, runs int
	rounds      []breakdownRun
	started     time.Time
	commit      string
}

// accountLine is one line of the helper's CPU account as -vv prints it.
var accountLine = regexp.MustCompile(regexp.QuoteMeta(hostprobe.CPUPrefix) + `(.+) ([0-9]+\.[0-9]+)ms\s*$`)

// partItems splits "native unit 4" into its part and item count.
var partItems = regexp.MustCompile(`^((?:native|sh) \S+) ([0-9]+)$`)

// parseAccount sums the helper's account lines in a run's output.
func parseAccount(out string) (parts map[string]float64, items map[string]int, helperRuns int) {
	parts, items = map[string]float64{}, map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		m := accountLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		name := m[1]
		if pm := partItems.FindStringSubmatch(name); pm != nil {
			name = pm[1]
			n, _ := strconv.Atoi(pm[2])
			items[name] += n
		}
		if name == "total" {
			helperRuns++
		}
		parts[name] += v
	}
	return parts, items, helperRuns
}

// breakdown measures the breakdown on the bench's hosts, already
// converged: one uncounted round, then b.runs counted ones.
func (b *bench) breakdown(ctx context.Context, hosts int, skiffArgv []string) (*breakdownResults, error) {
	res := &breakdownResults{hosts: hosts, runs: b.runs, started: time.Now()}
	argv := append(slices.Clone(skiffArgv), "-vv")
	env := []string{hostprobe.CPUEnv + "=1"}
	logf("where the hosts' CPU goes: no-op with the helper's CPU account and the floor, %d rounds", b.runs)
	for i := 0; i <= b.runs; i++ {
		m, err := b.measured(ctx, "skiff-breakdown.log", true, env, argv)
		if err != nil {
			return nil, err
		}
		if err := exitZero(m); err != nil {
			return nil, fmt.Errorf("no-op with the CPU account (round %d): %w", i, err)
		}
		fl, err := b.onceHWM(ctx, "floor.log", b.floorCmd().argv...)
		if err != nil {
			return nil, err
		}
		if err := exitZero(fl); err != nil {
			return nil, fmt.Errorf("floor (round %d): %w", i, err)
		}
		if i == 0 {
			// Warm-up: after a first converge, the facts kept from its
			// start say the hosts have no helper yet; this run finds it.
			continue
		}
		parts, items, helperRuns := parseAccount(runOutput(m))
		if helperRuns < hosts {
			return nil, fmt.Errorf("no-op with the CPU account (round %d): the probe helper accounted on %d of %d hosts (see %s)", i, helperRuns, hosts, m.log)
		}
		res.rounds = append(res.rounds, breakdownRun{skiff: m, floor: fl, parts: parts, items: items, helperRuns: helperRuns})
		logf("  round %d: hosts' CPU %.0f ms (helper %.0f ms), floor %.0f ms", i, ms(m.hostCPU), parts["total"], ms(fl.hostCPU))
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// breakdownOnly is `-only breakdown`: fresh site hosts, a first converge,
// then the breakdown, whose section replaces the one in the results file.
func (b *bench) breakdownOnly(ctx context.Context, out, commit string) error {
	defer b.removeHosts()
	names, _, err := b.startSite(ctx, b.root)
	if err != nil {
		return err
	}
	logf("first converge: skiff apply %s", playbook)
	first, err := b.once(ctx, "first-converge.log", b.skiffArgs("apply", "--yes")...)
	if err != nil {
		return err
	}
	if first.exit != 0 {
		return fmt.Errorf("first converge failed (exit %d):\n%s", first.exit, tail(first.log, 40))
	}
	res, err := b.breakdown(ctx, len(names), b.skiffArgs("apply", "--yes"))
	if err != nil {
		return err
	}
	res.commit = commit
	return b.writeSection(out, "breakdown", res.markdown())
}

// figure is a per-round figure's statistics, in ms.
func (r *breakdownResults) figure(f func(breakdownRun) float64) stat {
	xs := make([]float64, len(r.rounds))
	for i, run := range r.rounds {
		xs[i] = f(run)
	}
	return statOf(xs)
}

func (r *breakdownResults) markdown() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s\n\n", breakdownHeading)
	fmt.Fprintf(&s, "Measured %s UTC (skiff %s) by `make bench` or `go run ./bench/cmd/bench -only breakdown -n %d`: on the %d converged site hosts, one uncounted round then %d rounds of a no-op `skiff apply --yes -vv` with `%s=1` and the floor. ",
		r.started.UTC().Format("2006-01-02 15:04"), r.commit, r.runs, r.hosts, r.runs, hostprobe.CPUEnv)
	s.WriteString("With that variable the probe helper accounts its own CPU time (getrusage: its own and that of the programs it waits for) per part, and answers the parts one after another so that each part's time is its own: the same answers, the same work, not the same wall time. ")
	s.WriteString("Hosts' CPU is the containers' cgroups' during each run; the helper's parts are summed over the hosts; each figure is the median over the rounds (min and max beside it), in milliseconds for the 4 hosts together. ")
	s.WriteString("The rest is what is neither the floor nor the helper: the session's own script (the lock's check, the facts script), the servers the helper asks (systemd over D-Bus, the database), and the hosts' background.\n\n")
	s.WriteString("| part | items | median | min | max |\n|---|---|---|---|---|\n")
	row := func(name, items string, st stat) {
		fmt.Fprintf(&s, "| %s | %s | %.1f ms | %.1f ms | %.1f ms |\n", name, items, st.med, st.min, st.max)
	}
	row("skiff no-op, hosts' CPU", "", r.figure(func(b breakdownRun) float64 { return ms(b.skiff.hostCPU) }))
	row("floor (connect, sudo, sh, `true`), hosts' CPU", "", r.figure(func(b breakdownRun) float64 { return ms(b.floor.hostCPU) }))
	row("**beyond the floor**", "", r.figure(func(b breakdownRun) float64 { return ms(b.skiff.hostCPU - b.floor.hostCPU) }))
	var names []string
	items := map[string]int{}
	for _, run := range r.rounds {
		for name := range run.parts {
			if name != "total" && name != "start-up" && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		for name, n := range run.items {
			items[name] = max(items[name], n)
		}
	}
	slices.Sort(names)
	part := func(name string) func(breakdownRun) float64 {
		return func(b breakdownRun) float64 { return b.parts[name] }
	}
	row("probe helper: start-up (exec, the Go runtime, the packages' initialisation)", "", r.figure(part("start-up")))
	for _, name := range names {
		row("probe helper: "+name, strconv.Itoa(items[name]), r.figure(part(name)))
	}
	row("probe helper, total", "", r.figure(part("total")))
	row("rest beyond the floor", "", r.figure(func(b breakdownRun) float64 {
		return ms(b.skiff.hostCPU-b.floor.hostCPU) - b.parts["total"]
	}))
	ratio := r.figure(func(b breakdownRun) float64 {
		if b.floor.hostCPU <= 0 {
			return 0
		}
		return b.skiff.hostCPU.Seconds() / b.floor.hostCPU.Seconds()
	})
	fmt.Fprintf(&s, "\nHosts' CPU of the no-op against the floor's, round by round: %.2f× (%.2f×–%.2f×). A native line is one kind's answerer with the programs it ran (systemctl's fallback, iptables, the mysql client); an sh line is the fragments of one task kind that run with sh (a command's `unless`, the kinds without a native probe).\n\n", ratio.med, ratio.min, ratio.max)
	return s.String()
}
