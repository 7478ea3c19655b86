package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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
	log    string // the log its combined output was appended to
	// logFrom is where this run's output starts in log (runOutput reads it).
	logFrom int64
	// hostCPU is the CPU time the bench's hosts (their containers) used
	// during the run, from their cgroups; 0 where unreadable. It includes
	// what the hosts' own services do meanwhile (a few ms per second).
	hostCPU time.Duration
}

// series is the counted runs of one command.
type series struct{ list []measurement }

// once runs argv from the repository root, its output appended to logName
// in the bench's folder, and measures it. A non-zero exit is not an error.
// Its maxRSS is the kernel's (wait4), which covers the children it waited
// for (Ansible's workers) but never reads below this process's own peak
// (see pollHWM); onceHWM reads the command's own peak instead.
func (b *bench) once(ctx context.Context, logName string, argv ...string) (measurement, error) {
	return b.measured(ctx, logName, false, nil, argv)
}

// onceHWM is once with maxRSS read as the command's own peak resident
// memory (VmHWM, see pollHWM): for skiff, which runs no child process.
func (b *bench) onceHWM(ctx context.Context, logName string, argv ...string) (measurement, error) {
	return b.measured(ctx, logName, true, nil, argv)
}

// measured runs argv as once does, with env added to the environment.
func (b *bench) measured(ctx context.Context, logName string, hwm bool, env, argv []string) (measurement, error) {
	logPath := filepath.Join(b.dir, logName)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return measurement{}, err
	}
	defer f.Close()
	from, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return measurement{}, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.root, f, f
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cpuBefore := b.hostsCPU()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measurement{}, fmt.Errorf("%s: %w", argv[0], err)
	}
	var peak int64
	done, polled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(polled)
		if hwm {
			peak = pollHWM(cmd.Process.Pid, done)
		}
	}()
	err = cmd.Wait()
	wall := time.Since(start)
	close(done)
	<-polled
	hostCPU := b.hostsCPU() - cpuBefore
	if cmd.ProcessState == nil {
		return measurement{}, fmt.Errorf("%s: %w", argv[0], err)
	}
	if ctx.Err() != nil {
		return measurement{}, ctx.Err()
	}
	ps := cmd.ProcessState
	m := measurement{wall: wall, cpu: ps.UserTime() + ps.SystemTime(), exit: ps.ExitCode(), log: logPath, logFrom: from, hostCPU: hostCPU, maxRSS: peak}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && !hwm {
		m.maxRSS = ru.Maxrss // KiB on Linux
	}
	return m, nil
}

// hostsCPU is the CPU time used so far by the containers of the bench's
// site hosts; 0 when there are none or their cgroups cannot be read.
func (b *bench) hostsCPU() time.Duration {
	if b.c == nil {
		return 0
	}
	var total time.Duration
	for _, h := range b.c.Hosts {
		total += containerCPU(h.ContainerID)
	}
	return total
}

// containerCPU reads a Docker container's CPU time from its cgroup (v1
// cpuacct, or v2 cpu.stat under either cgroup driver).
func containerCPU(id string) time.Duration {
	if data, err := os.ReadFile("/sys/fs/cgroup/cpuacct/docker/" + id + "/cpuacct.usage"); err == nil {
		ns, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		return time.Duration(ns)
	}
	for _, p := range []string{"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/cpu.stat", "/sys/fs/cgroup/docker/" + id + "/cpu.stat"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
				us, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				return time.Duration(us) * time.Microsecond
			}
		}
	}
	return 0
}

// timed is one command that turns runs.
type timed struct {
	name string   // in progress lines: "skiff apply", "ansible", "floor"
	argv []string // run from the repository root
	log  string   // log file name in the bench's folder
	// check judges each run (warm-up included); nil: any exit is accepted.
	check func(measurement) error
}

// turns runs the commands in turn, c1 c2 c3 c1 c2 c3 …, one warm-up round
// first (not counted) then b.runs counted rounds, so that ratios taken round
// by round hold when the machine's speed drifts. It returns one series per
// command, in order, and stops at the first run that fails its check.
func (b *bench) turns(ctx context.Context, cmds ...timed) ([]series, error) {
	out := make([]series, len(cmds))
	for i := 0; i <= b.runs; i++ {
		ms := make([]measurement, len(cmds))
		for j, c := range cmds {
			m, err := b.once(ctx, c.log, c.argv...)
			if err != nil {
				return out, err
			}
			if c.check != nil {
				if err := c.check(m); err != nil {
					return out, fmt.Errorf("%s (run %d of %d, warm-up first): %w", c.name, i+1, b.runs+1, err)
				}
			}
			ms[j] = m
		}
		if i == 0 {
			continue // warm-up
		}
		parts := make([]string, len(cmds))
		for j, c := range cmds {
			parts[j] = fmt.Sprintf("%s %.2fs", c.name, ms[j].wall.Seconds())
			out[j].list = append(out[j].list, ms[j])
		}
		logf("  run %d: %s", i, strings.Join(parts, ", "))
	}
	return out, nil
}

// floorCmd is the floor on the bench's inventory: it must exit 0.
func (b *bench) floorCmd() timed {
	return timed{name: "floor", argv: []string{b.floor, "-i", b.inv}, log: "floor.log", check: exitZero}
}

// exitZero accepts a run that exited 0.
func exitZero(m measurement) error {
	if m.exit != 0 {
		return fmt.Errorf("exited %d:\n%s", m.exit, tail(m.log, 20))
	}
	return nil
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
func (s series) hostCPU() stat {
	return s.figure(func(m measurement) float64 { return m.hostCPU.Seconds() })
}
func (s series) cpu() stat { return s.figure(func(m measurement) float64 { return m.cpu.Seconds() }) }
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
