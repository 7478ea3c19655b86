package main

import (
	"strings"
	"testing"
	"time"
)

func TestStatOf(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want stat
	}{
		{[]float64{3, 1, 2}, stat{1, 2, 3}},
		{[]float64{4, 1, 3, 2}, stat{1, 2.5, 4}},
		{nil, stat{}},
	} {
		if got := statOf(tc.in); got != tc.want {
			t.Errorf("statOf(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRatioIsPairByPair(t *testing.T) {
	s := func(ds ...time.Duration) series {
		var out series
		for _, d := range ds {
			out.list = append(out.list, measurement{wall: d})
		}
		return out
	}
	got := ratio(s(2*time.Second, 9*time.Second, 3*time.Second), s(time.Second, 3*time.Second, 3*time.Second))
	if want := (stat{1, 2, 3}); got != want {
		t.Errorf("ratio = %v, want %v", got, want)
	}
}

func TestMarkdownSaysWhatIsMissing(t *testing.T) {
	m := series{list: []measurement{{wall: 3 * time.Second, maxRSS: 20480, hostCPU: 1500 * time.Millisecond}}}
	f := series{list: []measurement{{wall: time.Second, maxRSS: 10240, hostCPU: 250 * time.Millisecond}}}
	a := series{list: []measurement{{wall: 60 * time.Second, maxRSS: 40960}}}
	r := &results{runs: 1, hosts: 4, noop: m, floor: f, drift: m, driftFloor: f, driftSeen: true,
		ansibleNoop: a, ansibleDrift: a, ansibleDriftSeen: true, ansibleIdle: true, ansibleFirst: measurement{wall: 200 * time.Second},
		firstConverge: measurement{wall: 50 * time.Second}, skiffOnAnsible: planVerdict{code: 0}, ansibleSite: "yes", ansibleRerun: "yes",
		sessions: []sessionCounts{{host: "web1", connections: 1, pamSessions: 1, channels: 5, sudo: 4}},
		sections: []string{"## Fan-out\n\nfigures\n"}}
	md := r.markdown()
	for _, want := range []string{"| 3.00× | 3.00× | 3.00×", "missed: 3.00× the floor, 50% over", "| web1 | 1 | 1 | 5 | 4 |", "20.0 MiB",
		"| **no-op skiff / Ansible** (round by round) | 0.05× | 0.05× | 0.05× |", "met: 0.050× Ansible's time, 50% under the 0.1× bound",
		"| **first converge skiff / Ansible** (1 run each) | 0.25× |", "reported changed=0 and failed=0 on every host: yes", "exit 0, no change",
		"## Fan-out\n\nfigures\n\n## Machine", "Limits of these figures", "in 5 SSH session(s) per host",
		"the hosts used 1.50 s of CPU per no-op against 0.25 s for the floor", "| hosts' CPU (all 4 containers), floor | 0.25 s |"} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q:\n%s", want, md)
		}
	}
}

func TestSectionOfKeepsSubsections(t *testing.T) {
	doc := "# t\n\n## Site\n\nx\n\n## Fan-out: role\n\na\n\n### memory\n\nb\n\n## Machine\n\nm\n"
	if got, want := sectionOf(doc, "## Fan-out"), "## Fan-out: role\n\na\n\n### memory\n\nb\n\n"; got != want {
		t.Errorf("sectionOf = %q, want %q", got, want)
	}
	if got := sectionOf(doc, "## Nothing"); got != "" {
		t.Errorf("missing section: %q", got)
	}
}
