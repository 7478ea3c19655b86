package main

import (
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLeastSquares(t *testing.T) {
	for _, tc := range []struct {
		name   string
		xs, ys []float64
		want   fitLine
		err    bool
	}{
		{name: "exact line", xs: []float64{10, 25, 50}, ys: []float64{1.5, 3, 5.5}, want: fitLine{slope: 0.1, intercept: 0.5}},
		{name: "flat", xs: []float64{10, 25, 50}, ys: []float64{2, 2, 2}, want: fitLine{slope: 0, intercept: 2}},
		// Through (1,1) (2,2) (3,2): mean x 2, mean y 5/3, slope 1/2.
		{name: "noisy", xs: []float64{1, 2, 3}, ys: []float64{1, 2, 2}, want: fitLine{slope: 0.5, intercept: 5.0/3 - 1}},
		{name: "one point", xs: []float64{10}, ys: []float64{1}, err: true},
		{name: "same x", xs: []float64{10, 10}, ys: []float64{1, 2}, err: true},
		{name: "lengths differ", xs: []float64{10, 20}, ys: []float64{1}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := leastSquares(tc.xs, tc.ys)
			if tc.err {
				if err == nil {
					t.Fatalf("leastSquares = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.slope-tc.want.slope) > 1e-9 || math.Abs(got.intercept-tc.want.intercept) > 1e-9 {
				t.Errorf("leastSquares = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		max      float64
		last     float64
		numTicks int
	}{
		{50, 50, 6},   // 0 10 … 50
		{43.2, 50, 6}, // 0 10 … 50
		{3.1, 4, 5},   // 0 1 … 4
		{0, 1, 6},     // nothing to show: 0 0.2 … 1
	} {
		ticks, last := niceTicks(tc.max)
		if math.Abs(last-tc.last) > 1e-9 || len(ticks) != tc.numTicks || ticks[0] != 0 {
			t.Errorf("niceTicks(%v) = %v, %v; want %d ticks from 0 to %v", tc.max, ticks, last, tc.numTicks, tc.last)
		}
	}
}

func TestChartWritesPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chart.png")
	blue := color.RGBA{0x1f, 0x5f, 0xc6, 0xff}
	c := &lineChart{
		title: "test", xLabel: "hosts", yLabel: "seconds", width: 640, height: 400, valueFormat: "%.2f s",
		series: []chartSeries{
			{name: "a", color: blue, xs: []float64{10, 25, 50}, ys: []float64{1, 2, 4}},
			{name: "b", color: color.RGBA{0xd6, 0x4b, 0x1f, 0xff}, xs: []float64{10, 25, 50}, ys: []float64{5, 12, 30}, noValues: true},
		},
	}
	if err := c.writePNG(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 400 {
		t.Fatalf("the chart is %dx%d, want 640x400", b.Dx(), b.Dy())
	}
	// The first series' line is drawn: some pixels have its colour.
	var hits int
	for y := 0; y < 400; y++ {
		for x := 0; x < 640; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 == 0x1f && g>>8 == 0x5f && b>>8 == 0xc6 {
				hits++
			}
		}
	}
	if hits < 50 {
		t.Errorf("only %d pixels of the first series' colour", hits)
	}

	bad := &lineChart{width: 640, height: 400, series: []chartSeries{{name: "x", xs: []float64{1, 2}, ys: []float64{1}}}}
	if err := bad.writePNG(filepath.Join(t.TempDir(), "bad.png")); err == nil {
		t.Error("a series with more x than y values was drawn")
	}
}

func TestSpliceSection(t *testing.T) {
	section := fanoutHeading + "\n\nnew text\n\n### sub\n\nmore\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"replaces the old section", "# R\n\n" + fanoutHeading + "\n\nold\n\n### sub\n\nold more\n\n## Machine\n\n- x\n",
			"# R\n\n" + section + "## Machine\n\n- x\n"},
		{"goes before Machine", "# R\n\n## SSH\n\nt\n\n## Machine\n\n- x\n", "# R\n\n## SSH\n\nt\n\n" + section + "## Machine\n\n- x\n"},
		{"appends", "# R\n\ntext\n", "# R\n\ntext\n\n" + section},
		{"an empty file", "", section},
		{"the last section", "# R\n\n" + fanoutHeading + "\n\nold\n", "# R\n\n" + section},
	} {
		if got := spliceSection(tc.doc, section); got != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
}

func TestCheckAnsibleRecap(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(log, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := measurement{log: log}
	recap := func(lines ...string) []byte {
		return []byte("TASK [x]\nok: [h01]\n\nPLAY RECAP *********\n" + strings.Join(lines, "\n") + "\n")
	}
	ok1 := "h01                        : ok=6    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0"
	ok2 := "h02                        : ok=6    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0"
	ch2 := "h02                        : ok=7    changed=5    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0"
	un2 := "h02                        : ok=0    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0"
	if err := checkAnsibleRecap(m, recap(ok1, ok2), 2, true); err != nil {
		t.Errorf("a clean no-op run: %v", err)
	}
	for name, out := range map[string][]byte{
		"a change":       recap(ok1, ch2),
		"an unreachable": recap(ok1, un2),
		"a missing host": recap(ok1),
		"no recap":       []byte("ERROR! something\n"),
	} {
		if err := checkAnsibleRecap(m, out, 2, true); err == nil {
			t.Errorf("%s passed as a no-op run", name)
		}
	}
	if err := checkAnsibleRecap(m, recap(ok1, ch2), 2, false); err == nil {
		t.Error("a first converge that changed nothing on h01 passed")
	}
	if err := checkAnsibleRecap(measurement{log: log, exit: 2}, recap(ok1, ok2), 2, true); err == nil {
		t.Error("a non-zero exit passed")
	}
}

func TestCheckSkiffReport(t *testing.T) {
	m := measurement{log: filepath.Join(t.TempDir(), "log")}
	noop := []byte(`{"run_id":"r","mode":"apply","summary":{"ok":2,"changed":0,"failed":0,"unreachable":0},
	  "hosts":[{"name":"h01","status":"ok"},{"name":"h02","status":"ok"}]}`)
	if err := checkSkiffReport(m, noop, 2, true); err != nil {
		t.Errorf("a clean no-op run: %v", err)
	}
	if err := checkSkiffReport(m, noop, 3, true); err == nil {
		t.Error("a report with 2 of 3 hosts passed")
	}
	if err := checkSkiffReport(m, noop, 2, false); err == nil {
		t.Error("a first converge that changed nothing passed")
	}
	unreachable := []byte(`{"summary":{"ok":1,"unreachable":1},"hosts":[{"name":"h01","status":"ok"},{"name":"h02","status":"unreachable","error":"dial: refused"}]}`)
	if err := checkSkiffReport(m, unreachable, 2, true); err == nil || !strings.Contains(err.Error(), "h02") {
		t.Errorf("an unreachable host: err = %v, want one naming h02", err)
	}
}

func TestReadHWM(t *testing.T) {
	// This test process has an address space: VmHWM is there and positive.
	kb, ok := readHWM("/proc/self/status")
	if !ok || kb <= 0 {
		t.Fatalf("readHWM(/proc/self/status) = %d, %v", kb, ok)
	}
	if _, ok := readHWM(filepath.Join(t.TempDir(), "none")); ok {
		t.Error("readHWM of a missing file reported a value")
	}
	done := make(chan struct{})
	close(done)
	if got := pollHWM(os.Getpid(), done); got <= 0 {
		t.Errorf("pollHWM of this process = %d", got)
	}
}

func TestFanoutMarkdown(t *testing.T) {
	s := func(ds ...float64) series {
		var out series
		for _, d := range ds {
			out.list = append(out.list, measurement{wall: time.Duration(d * float64(time.Second))})
		}
		return out
	}
	f := &fanoutResults{runs: 3, ansible: "ansible-playbook [core 2.14.18]", chart: "bench/fanout.png", drops: 0, throttles: 0,
		sizes: []fanoutSize{
			{hosts: 10, skiff: s(1, 1, 1), ansible: s(10, 10, 10), floor: s(0.1, 0.1, 0.1), skiffPeak: []int64{20480, 20480, 20480}},
			{hosts: 25, skiff: s(1.3, 1.3, 1.3), ansible: s(25, 25, 25), floor: s(0.2, 0.2, 0.2), skiffPeak: []int64{30720}},
			{hosts: 50, skiff: s(1.8, 1.8, 1.8), ansible: s(50, 50, 50), floor: s(0.35, 0.35, 0.35), skiffPeak: []int64{40960}},
		}}
	md := f.markdown()
	for _, want := range []string{fanoutHeading, "| 50 | 1.80 s (1.80–1.80)", "| skiff | 20.0 ms |", "| ansible-playbook | 1000.0 ms |",
		"**0.020×**", "≤ 0.1× Ansible's\": met", "(fanout.png)", "| 50 | 40.0 MiB", "0 connections dropped past MaxStartups", "VmHWM"} {
		if !strings.Contains(md, want) {
			t.Errorf("the fan-out section lacks %q:\n%s", want, md)
		}
	}
	if strings.Count(md, "\n## ") != 0 || !strings.HasPrefix(md, "## ") {
		t.Errorf("the section must have exactly one \"## \" heading, first:\n%s", md)
	}
}
