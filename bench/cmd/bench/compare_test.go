package main

import (
	"strings"
	"testing"
	"time"
)

// TestCompareSection: the comparison's section reports both commits, the
// after/before ratios round by round (wall and hosts' CPU), and replaces
// an earlier comparison in the results file, before "## Machine".
func TestCompareSection(t *testing.T) {
	s := func(walls ...time.Duration) series {
		var out series
		for _, w := range walls {
			out.list = append(out.list, measurement{wall: w, hostCPU: w / 2, maxRSS: 30 * 1024})
		}
		return out
	}
	r := &compareResults{a: revision{rev: "v1", commit: "aaaaaaa"}, z: revision{rev: "v2", commit: "bbbbbbb"}, hosts: 4, runs: 2,
		before: s(400*time.Millisecond, 500*time.Millisecond), after: s(200*time.Millisecond, 500*time.Millisecond),
		floor: s(100*time.Millisecond, 250*time.Millisecond)}
	md := r.markdown()
	for _, want := range []string{"aaaaaaa (before) and bbbbbbb (after)", "-only compare -a v1 -b v2 -n 2",
		"| **after / before** (round by round) | 0.75× | 0.50× | 1.00× |",
		"| **hosts' CPU after / before** (round by round) | 0.75× | 0.50× | 1.00× |",
		"| before / floor | 3.00× | 2.00× | 4.00× |", "30.0 MiB"} {
		if !strings.Contains(md, want) {
			t.Errorf("section lacks %q:\n%s", want, md)
		}
	}
	doc := "# r\n\n## Site\n\nx\n\n" + compareHeading + "\n\nold figures\n\n## Machine\n\nm\n"
	got := spliceSection(doc, md)
	if strings.Contains(got, "old figures") || strings.Count(got, compareHeading) != 1 || !strings.Contains(got, md+"## Machine") {
		t.Errorf("spliced:\n%s", got)
	}
}
