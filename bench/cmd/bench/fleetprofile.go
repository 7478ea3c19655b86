package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// fleetProfile is where one no-op apply spends its CPU and keeps its
// memory: skiff built with profiles (bench/fleet/skiffprof), run once on
// the fleet, its profiles summed up by `go tool pprof`.
type fleetProfile struct {
	hosts     int
	cpu, heap []string // pprof -top -cum lines, the run's own functions first
}

// profileLines keeps, of pprof's -top -cum output, the lines of skiff's
// own packages, of the SSH handshake and of the garbage collector: where
// a run's cost is decided.
func profileLines(out string, n int) []string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || !strings.HasSuffix(f[4], "%") {
			continue
		}
		fn := strings.Join(f[5:], " ")
		if strings.Contains(fn, "skiffdeploy/skiff/internal/") && !strings.Contains(fn, "parallel.Each") && !strings.Contains(fn, "cli.") ||
			strings.HasSuffix(fn, "ssh.NewClientConn") || fn == "runtime.gcBgMarkWorker" {
			keep = append(keep, fmt.Sprintf("%-9s %-7s %s", f[3], f[4], strings.TrimPrefix(fn, "github.com/skiffdeploy/skiff/internal/")))
		}
		if len(keep) == n {
			break
		}
	}
	return keep
}

// buildProfiled builds skiff with profiles into the fleet's folder. Its
// probe helper is itself, not bin/skiff's: the recording host gets it too,
// and the book records its requests.
func (f *fleetBench) buildProfiled(ctx context.Context) error {
	f.profBin = filepath.Join(f.work, "skiffprof")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", f.profBin, "./bench/fleet/skiffprof")
	build.Dir, build.Stderr = f.root, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./bench/fleet/skiffprof: %w", err)
	}
	return nil
}

// profile runs one profiled no-op apply on inv (n hosts).
func (f *fleetBench) profile(ctx context.Context, inv string, n int) (*fleetProfile, error) {
	bin := f.profBin
	dir := filepath.Join(f.work, "profile")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "apply", "-i", inv, fanoutPlaybook, "--yes", "--output", "json")
	cmd.Dir, cmd.Env = f.root, append(os.Environ(), "SKIFF_PROFILE="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("profiled apply: %w\n%s", err, tailString(string(out), 200))
	}
	p := &fleetProfile{hosts: n}
	for _, k := range []struct {
		file, index string
		into        *[]string
	}{{"apply-cpu.prof", "", &p.cpu}, {"apply-heap.prof", "-sample_index=inuse_space", &p.heap}} {
		args := []string{"tool", "pprof", "-top", "-cum", "-nodecount=200"}
		if k.index != "" {
			args = append(args, k.index)
		}
		out, err := exec.CommandContext(ctx, "go", append(args, bin, filepath.Join(dir, k.file))...).Output()
		if err != nil {
			return nil, fmt.Errorf("go tool pprof %s: %w", k.file, err)
		}
		*k.into = profileLines(string(out), 14)
		if total := profileTotal(string(out)); total != "" {
			*k.into = append([]string{total}, *k.into...)
		}
	}
	return p, nil
}

// profileTotal is pprof's line giving the profile's total.
func profileTotal(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Showing nodes accounting for") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
