package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// measurement is one finished run of a command, as the kernel accounted it.
type measurement struct {
	wall   time.Duration
	cpu    time.Duration // user + system
	maxRSS int64         // KiB, the process's peak resident memory
	exit   int
	log    string // its combined output
}

// series is the counted runs of one command.
type series struct{ list []measurement }

// once runs argv from the repository root, its output appended to logName
// in the bench's folder, and measures it. A non-zero exit is not an error.
func (b *bench) once(ctx context.Context, logName string, argv ...string) (measurement, error) {
	logPath := filepath.Join(b.dir, logName)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return measurement{}, err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.root, f, f
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		return measurement{}, fmt.Errorf("%s: %w", argv[0], err)
	}
	if ctx.Err() != nil {
		return measurement{}, ctx.Err()
	}
	ps := cmd.ProcessState
	m := measurement{wall: wall, cpu: ps.UserTime() + ps.SystemTime(), exit: ps.ExitCode(), log: logPath}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		m.maxRSS = ru.Maxrss // KiB on Linux
	}
	return m, nil
}

// pairs runs a and b in turn, a b a b …, one warm-up pair first (not
// counted) then b.runs counted pairs, so that a ratio taken pair by pair
// holds when the machine's speed drifts. b (the floor) must exit 0.
func (b *bench) pairs(ctx context.Context, a, floor []string) (series, series, error) {
	var sa, sb series
	logA := filepath.Base(a[0]) + "-" + a[1] + ".log"
	for i := 0; i <= b.runs; i++ {
		ma, err := b.once(ctx, logA, a...)
		if err != nil {
			return sa, sb, err
		}
		mb, err := b.once(ctx, "floor.log", floor...)
		if err != nil {
			return sa, sb, err
		}
		if mb.exit != 0 {
			return sa, sb, fmt.Errorf("the floor exited %d:\n%s", mb.exit, tail(mb.log, 20))
		}
		if i == 0 {
			continue // warm-up
		}
		logf("  run %d: %s %.2fs, floor %.2fs", i, a[1], ma.wall.Seconds(), mb.wall.Seconds())
		sa.list = append(sa.list, ma)
		sb.list = append(sb.list, mb)
	}
	return sa, sb, nil
}

// stat is min, median and max of one figure.
type stat struct{ min, med, max float64 }

func statOf(xs []float64) stat {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return stat{}
	}
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stat{s[0], med, s[n-1]}
}

func (s series) figure(f func(measurement) float64) stat {
	xs := make([]float64, len(s.list))
	for i, m := range s.list {
		xs[i] = f(m)
	}
	return statOf(xs)
}

func (s series) wall() stat { return s.figure(func(m measurement) float64 { return m.wall.Seconds() }) }
func (s series) cpu() stat  { return s.figure(func(m measurement) float64 { return m.cpu.Seconds() }) }
func (s series) rssMiB() stat {
	return s.figure(func(m measurement) float64 { return float64(m.maxRSS) / 1024 })
}

// ratio is the wall-time ratio a/b taken pair by pair.
func ratio(a, b series) stat {
	xs := make([]float64, 0, len(a.list))
	for i := range a.list {
		if i < len(b.list) && b.list[i].wall > 0 {
			xs = append(xs, a.list[i].wall.Seconds()/b.list[i].wall.Seconds())
		}
	}
	return statOf(xs)
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
