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
	m := series{list: []measurement{{wall: 3 * time.Second, maxRSS: 20480}}}
	f := series{list: []measurement{{wall: time.Second, maxRSS: 10240}}}
	r := &results{runs: 1, hosts: 4, noop: m, floor: f, drift: m, driftFloor: f, driftSeen: true,
		sessions: []sessionCounts{{host: "web1", connections: 1, pamSessions: 1, channels: 5, sudo: 4}}}
	md := r.markdown()
	for _, want := range []string{"| 3.00× | 3.00× | 3.00×", "missed: 3.00× the floor, 50% over", "| web1 | 1 | 1 | 5 | 4 |", "20.0 MiB", "Not measured yet", "Ansible", "50 hosts", "PNG"} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q:\n%s", want, md)
		}
	}
}
