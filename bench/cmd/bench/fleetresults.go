package main

import (
	"context"
	"fmt"
	"image/color"
	"path/filepath"
	"strings"
	"time"
)

// fleetRun is one run of skiff on the fake fleet.
type fleetRun struct {
	m         measurement
	peakKiB   int64         // skiff's VmHWM
	serverCPU time.Duration // the fake fleet's CPU (this process) meanwhile
	// maxUnauth is the most connections one fake host held open and not
	// yet authenticated at once; bastionMaxUnauth the bastion's.
	maxUnauth, bastionMaxUnauth int
	sessions                    int64
}

// fleetSize is the counted runs at one host count.
type fleetSize struct {
	hosts        int
	bastion      bool
	load         string // the machine's 1-minute load average as the size began
	apply, floor []fleetRun
}

type fleetResults struct {
	runs, largeRuns int
	when            string
	sizes           []fleetSize
	bastion         fleetSize
	recorded        []string // the shapes of the recorded requests
	chart           string
	elapsed         time.Duration
	profile         *fleetProfile
	commit          string // skiff's
}

const (
	fleetHeading = "## Fleet: skiff's own cost at 100, 1,000 and 5,000 hosts"
	// Targets of issue 18, point 5.
	fleetWallTarget   = 3.0   // seconds, 1,000 hosts no-op
	fleetCPUTarget    = 1.0   // ms of skiff CPU per host beyond the floor
	fleetMemTarget    = 100.0 // KiB per host
	fleetStartupLimit = 10    // sshd's MaxStartups start
)

func runsFig(rs []fleetRun, f func(fleetRun) float64) stat {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return statOf(xs)
}

func (z fleetSize) wall() stat {
	return runsFig(z.apply, func(r fleetRun) float64 { return r.m.wall.Seconds() })
}
func (z fleetSize) cpu() stat {
	return runsFig(z.apply, func(r fleetRun) float64 { return r.m.cpu.Seconds() })
}
func (z fleetSize) floorWall() stat {
	return runsFig(z.floor, func(r fleetRun) float64 { return r.m.wall.Seconds() })
}
func (z fleetSize) floorCPU() stat {
	return runsFig(z.floor, func(r fleetRun) float64 { return r.m.cpu.Seconds() })
}
func (z fleetSize) peakMiB() stat {
	return runsFig(z.apply, func(r fleetRun) float64 { return float64(r.peakKiB) / 1024 })
}
func (z fleetSize) floorPeakMiB() stat {
	return runsFig(z.floor, func(r fleetRun) float64 { return float64(r.peakKiB) / 1024 })
}
func (z fleetSize) serverCPU() stat {
	return runsFig(z.apply, func(r fleetRun) float64 { return r.serverCPU.Seconds() })
}

// beyondFloorMs is skiff's CPU per host beyond the floor's, in ms, pair
// by pair.
func (z fleetSize) beyondFloorMs() stat {
	xs := make([]float64, 0, len(z.apply))
	for i := range z.apply {
		if i < len(z.floor) {
			xs = append(xs, (z.apply[i].m.cpu-z.floor[i].m.cpu).Seconds()*1000/float64(z.hosts))
		}
	}
	return statOf(xs)
}

// floorPerHostMs is the floor's CPU per host in ms: the handshake, one
// session and skiff's start.
func (z fleetSize) floorPerHostMs() float64 { return z.floorCPU().med * 1000 / float64(z.hosts) }

func (z fleetSize) maxUnauth() (host, bastion int) {
	for _, r := range append(append([]fleetRun(nil), z.apply...), z.floor...) {
		host = max(host, r.maxUnauth)
		bastion = max(bastion, r.bastionMaxUnauth)
	}
	return host, bastion
}

// beyondLine is the least-squares line through (hosts, median of apply
// CPU − floor CPU in seconds): its slope is the cost of each extra host
// beyond the floor, free of the costs a run has once (loading the
// playbook, starting the process).
func (f *fleetResults) beyondLine() (fitLine, error) {
	var xs, ys []float64
	for _, z := range f.sizes {
		xs = append(xs, float64(z.hosts))
		ys = append(ys, z.beyondFloorMs().med*float64(z.hosts)/1000)
	}
	return leastSquares(xs, ys)
}

// memLine is the least-squares line through (hosts, median peak KiB).
func (f *fleetResults) memLine() (fitLine, error) {
	var xs, ys []float64
	for _, z := range f.sizes {
		xs = append(xs, float64(z.hosts))
		ys = append(ys, z.peakMiB().med*1024)
	}
	return leastSquares(xs, ys)
}

func (f *fleetResults) size(n int) (fleetSize, bool) {
	for _, z := range f.sizes {
		if z.hosts == n {
			return z, true
		}
	}
	return fleetSize{}, false
}

// writeChart draws seconds (wall and CPU of no-op apply and the floor)
// against hosts.
func (f *fleetResults) writeChart(path string) error {
	c := &lineChart{
		title:       "Fleet: no-op skiff apply of the fanout role on fake hosts (median)",
		xLabel:      "hosts",
		yLabel:      "seconds",
		width:       960,
		height:      600,
		valueFormat: "%.2f s",
	}
	add := func(name string, col color.RGBA, quiet bool, y func(fleetSize) float64) {
		var xs, ys []float64
		for _, z := range f.sizes {
			xs = append(xs, float64(z.hosts))
			ys = append(ys, y(z))
		}
		c.series = append(c.series, chartSeries{name: name, color: col, xs: xs, ys: ys, noValues: quiet})
	}
	add("skiff apply: wall", color.RGBA{0x1f, 0x5f, 0xc6, 0xff}, false, func(z fleetSize) float64 { return z.wall().med })
	add("skiff apply: CPU (user+sys)", color.RGBA{0x2a, 0x9d, 0x8f, 0xff}, false, func(z fleetSize) float64 { return z.cpu().med })
	add("floor, skiff exec -- true: wall", color.RGBA{0x70, 0x70, 0x70, 0xff}, true, func(z fleetSize) float64 { return z.floorWall().med })
	add("floor: CPU", color.RGBA{0xb0, 0xb0, 0xb0, 0xff}, true, func(z fleetSize) float64 { return z.floorCPU().med })
	return c.writePNG(path)
}

// markdown renders the fleet section of RESULTS.md.
func (f *fleetResults) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("%s\n\n", fleetHeading)
	p("Measured %s UTC by `make bench` (or `go run ./bench/cmd/bench -only fleet`), skiff at commit %s. ", f.when, f.commit)
	p("**Only skiff's side is measured**: the hosts are fake, one process on this machine (`bench/fleet`, an SSH server from golang.org/x/crypto/ssh with one listener per host on its own loopback address 127.1.x.y), ")
	p("which answer skiff's remote scripts with the answers of one real test host converged with the fanout role (the fan-out's role, above), recorded once per bench run through the same server acting as a proxy to that host. ")
	p("A request is known by its text with skiff's random tokens (any run of 16 or more hex digits) set aside, and its recorded answer is replayed with the new request's tokens in it; a request with no recorded answer fails its host, and any failed host fails the bench. ")
	p("No host-side work happens (no shell, no sudo, no probe helper): real hosts would add their own time, in parallel on their own processors. ")
	p("Requests recorded: %d distinct shapes (the no-op apply's and the floor's).\n\n", len(f.recorded))
	p("Each size: one warm-up pair below 5,000 hosts, then %d counted runs (%d at 5,000 hosts and through the bastion: the machine is shared), a no-op `skiff apply --yes` and the floor `skiff exec -- true` in turn, ", f.runs, f.largeRuns)
	p("with skiff's default of 50 hosts at once (`--forks`). Every apply reported every host ok (no change) and every floor exited 0. ")
	p("CPU is skiff's user+system time from the kernel's accounting of the process; peak memory its VmHWM, read every 5 ms (as in the fan-out). ")
	p("The fake fleet runs in the bench's process on the same 2 processors: its CPU during each apply is shown, and weighs on the wall time.\n\n")

	p("| hosts | apply wall | apply CPU | floor wall | floor CPU | CPU per host beyond the floor | floor CPU per host | apply peak memory | floor peak memory | fake fleet's CPU during apply | machine load as the size began |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, z := range append(append([]fleetSize(nil), f.sizes...), f.bastion) {
		if z.hosts == 0 {
			continue
		}
		label := fmt.Sprint(z.hosts)
		if z.bastion {
			label += " via bastion"
		}
		bf := z.beyondFloorMs()
		p("| %s | %s | %.2f s | %.2f s | %.2f s | %.2f ms (%.2f–%.2f) | %.2f ms | %.1f MiB | %.1f MiB | %.2f s | %s |\n",
			label, span(z.wall()), z.cpu().med, z.floorWall().med, z.floorCPU().med, bf.med, bf.min, bf.max,
			z.floorPerHostMs(), z.peakMiB().med, z.floorPeakMiB().med, z.serverCPU().med, z.load)
	}
	p("\nMedians, with min–max in brackets. \"Beyond the floor\" is (apply CPU − floor CPU) / hosts, run pair by run pair: what skiff spends per host on top of connecting (TCP, SSH handshake and public-key login), one session and its own start; the floor's CPU per host is mostly that handshake.\n\n")
	p("![fleet: seconds against hosts, wall and CPU of a no-op skiff apply and of the floor](%s)\n\n", filepath.Base(f.chart))

	p("### Targets\n\n")
	if z, ok := f.size(1000); ok {
		w := z.wall().med
		both := z.cpu().med + z.serverCPU().med
		p("- 1,000 hosts no-op ≤ %.0f s wall: %s: %.2f s (median). skiff's CPU and the fake fleet's together came to %.2f s, so on 2 idle processors the run could take no less than %.2f s; the machine's load average was %s as the size began (other work shares the processors).\n",
			fleetWallTarget, metMissed(w <= fleetWallTarget), w, both, both/2, z.load)
		c := z.beyondFloorMs().med
		p("- ≤ %.0f ms of skiff CPU per host beyond the SSH handshake: %s at 1,000 hosts: %.2f ms", fleetCPUTarget, metMissed(c <= fleetCPUTarget), c)
		if big, ok := f.size(5000); ok {
			p(" (%.2f ms at 5,000)", big.beyondFloorMs().med)
		}
		if l, err := f.beyondLine(); err == nil {
			p("; per extra host (least-squares slope through the sizes): %.2f ms", l.slope*1000)
		}
		p("; where it goes: the profile below.\n")
	}
	if l, err := f.memLine(); err == nil {
		p("- ≤ %.0f KiB of memory per host: %s: %.1f KiB per extra host (least-squares slope of the apply's median peak memory through the sizes; %.1f MiB at 0 hosts). ",
			fleetMemTarget, metMissed(l.slope <= fleetMemTarget), l.slope, l.intercept/1024)
		p("An apply keeps every host's connection open for the whole run (later plays and delegated tasks reuse it), with its goroutines and buffers; the floor closes each as its host is done, and stays flat.\n")
	}
	if pr := f.profile; pr != nil {
		p("\n### Where a no-op on %d hosts spends skiff's CPU and memory\n\n", pr.hosts)
		p("One more no-op apply, by skiff built with profiles (`bench/fleet/skiffprof`, the same code with pprof's CPU profile and its heap profile taken at the largest in-use heap); ")
		p("`go tool pprof -top -cum`, kept to skiff's own functions, the SSH handshake (x/crypto's NewClientConn, as the client) and the garbage collector's background work. Cumulative: a line includes the ones it calls.\n\n")
		p("CPU:\n\n```\n%s\n```\n\nIn-use heap at its largest:\n\n```\n%s\n```\n", strings.Join(pr.cpu, "\n"), strings.Join(pr.heap, "\n"))
	}
	p("\n### Connection pacing\n\n")
	p("sshd's MaxStartups (10:30:100 by default) starts refusing connections at random once 10 are open and not yet authenticated, on each sshd. ")
	p("The fake hosts count, each on its own listener, the connections open and not yet past authentication, as sshd does. ")
	p("skiff logs in to one bastion at most 8 at a time; the server counts a connection until its own side of the login is done, a moment after skiff's side, so the count can show one more.\n\n")
	p("| hosts | most unauthenticated at once, on one host | at the bastion |\n|---|---|---|\n")
	for _, z := range append(append([]fleetSize(nil), f.sizes...), f.bastion) {
		if z.hosts == 0 {
			continue
		}
		h, bst := z.maxUnauth()
		label, bcell := fmt.Sprint(z.hosts), "no bastion"
		if z.bastion {
			label += " via bastion"
			bcell = fmt.Sprintf("%d (%s)", bst, withinLimit(bst))
		}
		p("| %s | %d (%s) | %s |\n", label, h, withinLimit(h), bcell)
	}
	p("\nThe fleet measure took %s, the recording host's start and first converge included.\n\n", f.elapsed.Round(time.Second))
	return b.String()
}

func metMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func withinLimit(n int) string {
	if n <= fleetStartupLimit {
		return "within MaxStartups' 10"
	}
	return fmt.Sprintf("**above MaxStartups' %d**", fleetStartupLimit)
}

// fleetOnly is `bench -only fleet`: the fleet measure alone, its section
// put into the results file in place of the previous one.
func (b *bench) fleetOnly(ctx context.Context, out string) error {
	res, err := b.measureFleet(ctx)
	if err != nil {
		return err
	}
	return b.writeSection(out, "fleet", res.markdown())
}

func secsDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
