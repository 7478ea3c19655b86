package main

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// fanoutSize is what was measured at one host count.
type fanoutSize struct {
	hosts int
	// skiffFirst and ansibleFirst converge fresh hosts, one run each.
	skiffFirst, ansibleFirst measurement
	skiffFirstPeak           int64 // KiB, VmHWM of skiff's first converge
	// skiff, ansible and floor are the counted no-op runs, taken in turn.
	skiff, ansible, floor series
	// skiffPeak is the VmHWM (KiB) of each counted skiff run.
	skiffPeak []int64
}

// fanoutResults is the fan-out section of RESULTS.md.
type fanoutResults struct {
	runs    int
	sizes   []fanoutSize
	startup time.Duration // starting the hosts, until all answer SSH
	ansible string        // ansible-playbook's version line
	// sshd's journal lines about MaxStartups on all hosts after every run:
	// connections dropped, and times throttling began.
	drops, throttles int
	chart            string // the PNG, relative to the repository root
	when             string // date of the measure (UTC)
	elapsed          time.Duration
}

// fanoutLines are the least-squares lines through (hosts, median no-op
// seconds) of skiff, Ansible and the floor: their slopes are the cost of
// each extra host.
func (f *fanoutResults) lines() (skiff, ansible, floor fitLine, err error) {
	pts := func(s func(fanoutSize) series) ([]float64, []float64) {
		var xs, ys []float64
		for _, z := range f.sizes {
			xs = append(xs, float64(z.hosts))
			ys = append(ys, s(z).wall().med)
		}
		return xs, ys
	}
	if skiff, err = leastSquares(pts(func(z fanoutSize) series { return z.skiff })); err != nil {
		return
	}
	if ansible, err = leastSquares(pts(func(z fanoutSize) series { return z.ansible })); err != nil {
		return
	}
	floor, err = leastSquares(pts(func(z fanoutSize) series { return z.floor }))
	return
}

// fitLine is y = slope·x + intercept.
type fitLine struct{ slope, intercept float64 }

// leastSquares fits a line to the points (xs[i], ys[i]) by ordinary least
// squares. It needs two points with different x at least.
func leastSquares(xs, ys []float64) (fitLine, error) {
	if len(xs) != len(ys) {
		return fitLine{}, fmt.Errorf("least squares: %d x values, %d y values", len(xs), len(ys))
	}
	n := float64(len(xs))
	if n < 2 {
		return fitLine{}, errors.New("least squares: fewer than two points")
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return fitLine{}, errors.New("least squares: every x is the same")
	}
	slope := sxy / sxx
	return fitLine{slope: slope, intercept: my - slope*mx}, nil
}

// peakMiB is min, median and max of the skiff runs' VmHWM, in MiB.
func (z fanoutSize) peakMiB() stat {
	xs := make([]float64, len(z.skiffPeak))
	for i, kb := range z.skiffPeak {
		xs[i] = float64(kb) / 1024
	}
	return statOf(xs)
}

// writeChart draws the fan-out curve: median no-op seconds against hosts,
// one line per tool and the floor.
func (f *fanoutResults) writeChart(path string) error {
	sk, an, fl, err := f.lines()
	if err != nil {
		return err
	}
	pick := func(s func(fanoutSize) series) (xs, ys []float64) {
		for _, z := range f.sizes {
			xs = append(xs, float64(z.hosts))
			ys = append(ys, s(z).wall().med)
		}
		return xs, ys
	}
	perHost := func(l fitLine) string { return fmt.Sprintf("%.1f ms per extra host", l.slope*1000) }
	c := &lineChart{
		title:       fmt.Sprintf("Fan-out: no-op converge of the fanout role (median of %d runs)", f.runs),
		xLabel:      "hosts",
		yLabel:      "seconds, median no-op run",
		width:       960,
		height:      600,
		valueFormat: "%.2f s",
	}
	add := func(name string, col color.RGBA, quiet bool, s func(fanoutSize) series) {
		xs, ys := pick(s)
		c.series = append(c.series, chartSeries{name: name, color: col, xs: xs, ys: ys, noValues: quiet})
	}
	// The floor runs close under skiff: its values go in the legend.
	_, floorYs := pick(func(z fanoutSize) series { return z.floor })
	floorVals := make([]string, len(floorYs))
	for i, y := range floorYs {
		floorVals[i] = fmt.Sprintf("%.2f", y)
	}
	add("ansible-playbook: "+perHost(an), color.RGBA{0xd6, 0x4b, 0x1f, 0xff}, false, func(z fanoutSize) series { return z.ansible })
	add("skiff apply: "+perHost(sk), color.RGBA{0x1f, 0x5f, 0xc6, 0xff}, false, func(z fanoutSize) series { return z.skiff })
	add("floor (connect, run true): "+strings.Join(floorVals, " / ")+" s, "+perHost(fl), color.RGBA{0x70, 0x70, 0x70, 0xff}, true, func(z fanoutSize) series { return z.floor })
	return c.writePNG(path)
}

// markdown renders the fan-out section of RESULTS.md: one "## " heading,
// then "### " ones only (spliceSection relies on it).
func (f *fanoutResults) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	sizes := make([]string, len(f.sizes))
	for i, z := range f.sizes {
		sizes[i] = fmt.Sprint(z.hosts)
	}
	largest := f.sizes[len(f.sizes)-1]
	p("%s\n\n", fanoutHeading)
	p("Measured %s UTC by `make bench` (or `go run ./bench/cmd/bench -only fanout`), %d counted runs per tool and size. ", f.when, f.runs)
	p("The role: `bench/fanout/roles/fanout` (skiff, playbook `bench/fanout/playbooks/fanout.hcl`) and `bench/fanout/ansible/fanout.yml` (Ansible's own modules: apt, copy, systemd, community.general.ufw): ")
	p("the packages nginx and ufw present (nginx, one light package whose .deb the test image caches, with a service that starts cleanly in a container; ufw for the rule), ")
	p("two files (`/etc/nginx/conf.d/fanout.conf`, which reloads nginx when it changes, and `/var/www/html/fanout.html`, the same bytes from both tools), ")
	p("nginx running and enabled, and one ufw rule (22/tcp from the bench machine, ufw enabled, default policies deny in / allow out).\n\n")
	p("Hosts: %d local systemd+sshd test hosts (stock sshd settings), started once in %s; each size is the first %s of them, with its own inventories. ",
		largest.hosts, f.startup.Round(time.Second), strings.Join(sizes, ", "))
	p("Ansible: `%s`, at its best: `gather_facts: false`, pipelining, ControlMaster with ControlPersist (connections kept between runs), forks = host count (`bench/fanout/ansible/ansible.cfg`). ", f.ansible)
	p("python3-apt, which Ansible's apt module needs on the hosts, is installed once from the image's cache before anything is measured.\n\n")
	p("At each size: the hosts are reset to fresh (nginx and ufw purged, files removed); skiff's first converge (one run); ")
	p("`skiff plan --detailed-exitcode` exits 0; `ansible-playbook` on skiff's result reports changed=0 on every host; reset again; ")
	p("Ansible's first converge (one run); `skiff plan --detailed-exitcode` exits 0 on Ansible's result. Then one warm-up round and %d counted rounds of no-op runs, ", f.runs)
	p("skiff, `ansible-playbook` and the floor in turn. Every run at every size was checked: skiff's JSON report lists every host ok (changed on a first converge), ")
	p("Ansible's PLAY RECAP has every host with unreachable=0 failed=0 (changed=0 on no-op runs, changed on a first converge), and the floor exits 0.\n\n")

	p("| hosts | skiff no-op | ansible-playbook no-op | floor | skiff / Ansible (pair by pair) | skiff first converge (1 run) | Ansible first converge (1 run) |\n")
	p("|---|---|---|---|---|---|---|\n")
	for _, z := range f.sizes {
		p("| %d | %s | %s | %s | %.3f× | %.2f s | %.2f s |\n", z.hosts, span(z.skiff.wall()), span(z.ansible.wall()), span(z.floor.wall()),
			ratio(z.skiff, z.ansible).med, z.skiffFirst.wall.Seconds(), z.ansibleFirst.wall.Seconds())
	}
	p("\nTimes are medians, with min–max in brackets. ")
	p("The hosts are containers on this machine: each host's own work (Ansible's Python modules and the commands they run, skiff's probe scripts) ")
	p("runs on the same %d processors as the tools, so these per-host costs include remote work that real servers would do in parallel on their own; ", runtime.NumCPU())
	p("that weighs on Ansible far more than on skiff. The machine is shared: quote medians.\n\n")

	sk, an, fl, err := f.lines()
	if err != nil {
		p("Cost per extra host: not computed: %v\n\n", err)
	} else {
		p("Cost per extra host: the slope of a least-squares line through (hosts, median no-op seconds).\n\n")
		p("| | cost per extra host | line at 0 hosts |\n|---|---|---|\n")
		p("| skiff | %.1f ms | %.2f s |\n", sk.slope*1000, sk.intercept)
		p("| ansible-playbook | %.1f ms | %.2f s |\n", an.slope*1000, an.intercept)
		p("| floor | %.1f ms | %.2f s |\n", fl.slope*1000, fl.intercept)
		p("| **skiff / Ansible** | **%.3f×** | |\n\n", sk.slope/an.slope)
		verdict := "met"
		if an.slope <= 0 {
			verdict = "not judged: Ansible's slope is not positive"
		} else if q := sk.slope / an.slope; q > 0.1 {
			verdict = fmt.Sprintf("missed: %.3f×", q)
		}
		p("Target \"fan-out cost per extra host ≤ 0.1× Ansible's\": %s.\n\n", verdict)
	}
	p("![fan-out: median no-op seconds against hosts, skiff, ansible-playbook and the floor](%s)\n\n", strings.TrimPrefix(f.chart, "bench/"))

	p("### skiff's peak memory\n\n")
	p("| hosts | no-op converge: median | min | max | first converge (1 run) |\n|---|---|---|---|---|\n")
	for _, z := range f.sizes {
		pk := z.peakMiB()
		p("| %d | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB |\n", z.hosts, pk.med, pk.min, pk.max, float64(z.skiffFirstPeak)/1024)
	}
	p("\nMethod: VmHWM (the peak resident set of the process's own address space) read from `/proc/PID/status` of the skiff process ")
	p("every %s while it runs; the figure is the last reading before it exits (VmHWM only grows, so at most the last %s can be missed). ", hwmInterval, hwmInterval)
	p("Not the kernel's maxrss from wait4: exec records the parent's high-water mark as the child's starting maxrss, ")
	p("so a child of this ~30 MiB bench process could never report less than the bench itself.\n\n")

	p("### Connections at %d hosts\n\n", largest.hosts)
	p("No connection failed: every run at every size had all its hosts reachable (checked as above). ")
	p("sshd's journals on all %d hosts, read after the last run, hold %d connections dropped past MaxStartups and %d starts of MaxStartups throttling ",
		largest.hosts, f.drops, f.throttles)
	p("(stock MaxStartups 10:30:100 applies per host, and each tool opens one connection per host at a time).\n\n")
	p("The fan-out measure took %s, host start-up included.\n\n", f.elapsed.Round(time.Second))
	return b.String()
}

// fanoutHeading opens the fan-out section of RESULTS.md.
const fanoutHeading = "## Fan-out: the fanout role on 10, 25 and 50 hosts"

// span is "median (min–max)" in seconds.
func span(s stat) string { return fmt.Sprintf("%.2f s (%.2f–%.2f)", s.med, s.min, s.max) }

// spliceSection puts section (starting with its own "## " heading line) in
// doc in place of the section with the same heading, which runs up to the
// next "## " heading; without one it goes before "## Machine", or last.
func spliceSection(doc, section string) string {
	heading, _, _ := strings.Cut(section, "\n")
	lines := strings.SplitAfter(doc, "\n")
	at := slices.IndexFunc(lines, func(l string) bool { return strings.TrimRight(l, "\n") == heading })
	if at >= 0 {
		end := len(lines)
		for i := at + 1; i < len(lines); i++ {
			if strings.HasPrefix(lines[i], "## ") {
				end = i
				break
			}
		}
		return strings.Join(lines[:at], "") + section + strings.Join(lines[end:], "")
	}
	if at = slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "## Machine") }); at >= 0 {
		return strings.Join(lines[:at], "") + section + strings.Join(lines[at:], "")
	}
	if doc != "" && !strings.HasSuffix(doc, "\n\n") {
		doc = strings.TrimRight(doc, "\n") + "\n\n"
	}
	return doc + section
}

// sectionOf is the "## " section of doc whose heading starts with
// heading, its "### " subsections included; "" when there is none.
func sectionOf(doc, heading string) string {
	lines := strings.SplitAfter(doc, "\n")
	at := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, heading) })
	if at < 0 {
		return ""
	}
	end := len(lines)
	for i := at + 1; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "## ") {
			end = i
			break
		}
	}
	return strings.Join(lines[at:end], "")
}

// fanoutOnly is `bench -only fanout`: the fan-out measure alone, its
// section put into the results file in place of the previous one (the
// rest of the file, from an earlier full run, is kept).
func (b *bench) fanoutOnly(ctx context.Context, out string) error {
	res, err := b.measureFanout(ctx)
	if err != nil {
		return err
	}
	return b.writeSection(out, "fan-out", res.markdown())
}

// writeSection puts section (named what, in the log) into the results
// file out in place of the one with its heading (see spliceSection), the
// rest of the file kept, and prints it.
func (b *bench) writeSection(out, what, section string) error {
	path := filepath.Join(b.root, out)
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(path, []byte(spliceSection(string(old), section)), 0o644); err != nil {
		return err
	}
	fmt.Print(section)
	logf("wrote the %s section of %s", what, out)
	return nil
}
