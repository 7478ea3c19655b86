package main

import (
	"strings"
	"testing"
)

// profileLines keeps skiff's own functions, the handshake and the
// collector, with their cumulative share, in pprof's order.
func TestProfileLines(t *testing.T) {
	out := `File: skiff
Showing nodes accounting for 1s, 30% of 3.31s total
      flat  flat%   sum%        cum   cum%
         0     0%     0%      1.07s 32.33%  github.com/skiffdeploy/skiff/internal/parallel.Each.func1
         0     0%     0%      0.62s 18.73%  github.com/skiffdeploy/skiff/internal/engine.(*Engine).prepare.func1.1
         0     0%     0%      0.61s 18.43%  golang.org/x/crypto/ssh.(*handshakeTransport).kexLoop
         0     0%     0%      0.50s 15.11%  golang.org/x/crypto/ssh.NewClientConn
         0     0%     0%      0.42s 12.69%  runtime.gcBgMarkWorker
     0.02s   0.6%   0.6%      0.39s 11.78%  github.com/skiffdeploy/skiff/internal/inventory.(*Inventory).Select
`
	got := profileLines(out, 3)
	want := []string{
		"0.62s     18.73%  engine.(*Engine).prepare.func1.1",
		"0.50s     15.11%  golang.org/x/crypto/ssh.NewClientConn",
		"0.42s     12.69%  runtime.gcBgMarkWorker",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("profileLines =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if total := profileTotal(out); total != "Showing nodes accounting for 1s, 30% of 3.31s total" {
		t.Errorf("profileTotal = %q", total)
	}
}

// The fleet section reports each target as met or missed from the
// medians, and a bastion that saw more logins waiting than MaxStartups
// lets through.
func TestFleetMarkdownTargets(t *testing.T) {
	run := func(wall, cpu float64, peakMiB int64, unauth, bastion int) fleetRun {
		return fleetRun{m: measurement{wall: secsDur(wall), cpu: secsDur(cpu)}, peakKiB: peakMiB * 1024, maxUnauth: unauth, bastionMaxUnauth: bastion}
	}
	size := func(n int, wall, cpu, floorCPU float64, peak int64) fleetSize {
		return fleetSize{hosts: n, load: "1.0",
			apply: []fleetRun{run(wall, cpu, peak, 1, 0)}, floor: []fleetRun{run(wall/2, floorCPU, 30, 1, 0)}}
	}
	r := &fleetResults{runs: 1, largeRuns: 1, chart: fleetChartFile,
		sizes: []fleetSize{size(100, 0.5, 0.35, 0.25, 40), size(1000, 2.5, 2.8, 2.0, 120), size(5000, 12, 14, 10, 450)}}
	r.bastion = fleetSize{hosts: 1000, bastion: true, load: "1.0",
		apply: []fleetRun{run(3, 3, 130, 1, 12)}, floor: []fleetRun{run(2, 2, 30, 1, 8)}}
	md := r.markdown()
	for _, want := range []string{
		"- 1,000 hosts no-op ≤ 3 s wall: met: 2.50 s",
		"- ≤ 1 ms of skiff CPU per host beyond the SSH handshake: met at 1,000 hosts: 0.80 ms",
		"- ≤ 100 KiB of memory per host: met: ",
		"| 1000 via bastion | 1 (within MaxStartups' 10) | 12 (**above MaxStartups' 10**) |",
		"**Only skiff's side is measured**",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("fleet section lacks %q:\n%s", want, md)
		}
	}
}
