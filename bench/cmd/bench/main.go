// Command bench measures skiff on the foobar.com stack (issue 6, the skiff
// side only: the Ansible side is not written yet). It starts the 4 stack
// hosts (web1 web2 db1 db2) as local test hosts, deploys playbooks/site.hcl
// once with bin/skiff (the first converge, timed), then measures on the
// converged hosts:
//
//   - no-op `skiff apply --yes` against the floor (bench/floor: connect to
//     every host and run `true`), taken in turn, with the ratio pair by pair;
//   - `skiff plan` with one file drifted by hand (/etc/nginx/nginx.conf on
//     web1), after checking that the plan reports that drift;
//   - SSH connections, sessions and sudo commands per host in one no-op run,
//     counted in the hosts' journals;
//   - skiff's peak memory (maximum RSS, from the kernel's accounting of the
//     finished process).
//
// It writes bench/RESULTS.md and removes its hosts at the end. Run it with
// `make bench` (root and a Docker engine; it needs bin/skiff).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"skiff/integration/testhosts"
)

const playbook = "playbooks/site.hcl"

func main() {
	runs := flag.Int("n", 5, "counted runs of each timed command (after one warm-up)")
	out := flag.String("out", "bench/RESULTS.md", "results file, relative to the repository root")
	flag.Parse()
	if *runs < 1 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: bench [-n RUNS] [-out FILE]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *runs, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench holds what every step needs.
type bench struct {
	root, dir string
	skiff     string // bin/skiff
	floor     string // the floor, built into dir
	inv       string
	c         *testhosts.Cluster
	runs      int
}

func run(ctx context.Context, runs int, out string) error {
	started := time.Now()
	root, err := testhosts.RepoRoot()
	if err != nil {
		return err
	}
	b := &bench{root: root, skiff: filepath.Join(root, "bin", "skiff"), runs: runs}
	if _, err := os.Stat(b.skiff); err != nil {
		return fmt.Errorf("bin/skiff missing: run make build first")
	}
	b.dir, err = os.MkdirTemp("", "skiff-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(b.dir)

	b.floor = filepath.Join(b.dir, "floor")
	logf("building the floor")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.floor, "./bench/floor")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./bench/floor: %w", err)
	}

	names, groups := testhosts.SiteHosts()
	b.c, err = testhosts.Start(ctx, testhosts.Options{
		Prefix: testhosts.UniquePrefix("skiff-bench"),
		Hosts:  names,
		Dir:    b.dir,
		Logf:   logf,
	})
	if b.c != nil {
		defer func() {
			logf("removing the hosts")
			if err := b.c.Close(); err != nil {
				logf("removing the hosts: %v", err)
			}
		}()
	}
	if err != nil {
		return err
	}
	extra, err := b.c.SiteSettings(ctx, b.root, b.dir, "")
	if err != nil {
		return err
	}
	b.inv = filepath.Join(b.dir, "inventory.hcl")
	if err := b.c.WriteInventory(b.inv, groups, extra); err != nil {
		return err
	}

	r := &results{runs: runs, hosts: len(names)}

	logf("first converge: skiff apply %s", playbook)
	first, err := b.once(ctx, "first-converge.log", b.skiffArgs("apply", "--yes")...)
	if err != nil {
		return err
	}
	if first.exit != 0 {
		return fmt.Errorf("first converge failed (exit %d):\n%s", first.exit, tail(first.log, 40))
	}
	r.firstConverge = first

	code, planOut, err := b.plan(ctx)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("skiff plan after the first converge exits %d, not 0 (no change):\n%s", code, planOut)
	}

	logf("no-op apply against the floor, %d runs each", runs)
	r.noop, r.floor, err = b.pairs(ctx, b.skiffArgs("apply", "--yes"), []string{b.floor, "-i", b.inv})
	if err != nil {
		return err
	}
	for _, m := range r.noop.list {
		if m.exit != 0 {
			return fmt.Errorf("a timed no-op apply exited %d:\n%s", m.exit, tail(m.log, 20))
		}
	}
	if code, planOut, err = b.plan(ctx); err != nil {
		return err
	} else if code != 0 {
		return fmt.Errorf("skiff plan after the no-op runs exits %d, not 0:\n%s", code, planOut)
	}

	logf("counting SSH connections and sessions in one no-op run")
	r.sessions, err = b.countSessions(ctx)
	if err != nil {
		return err
	}

	logf("drifting /etc/nginx/nginx.conf on web1")
	if _, code, err := b.c.Exec(ctx, "web1", "sh", "-c", "echo '# drifted by hand (bench)' >> /etc/nginx/nginx.conf"); err != nil || code != 0 {
		return fmt.Errorf("drifting nginx.conf on web1: exit %d: %v", code, err)
	}
	code, planOut, err = b.plan(ctx)
	if err != nil {
		return err
	}
	r.driftSeen = code == 2 && strings.Contains(planOut, "/etc/nginx/nginx.conf") && strings.Contains(planOut, "drifted by hand")
	if !r.driftSeen {
		return fmt.Errorf("skiff plan does not report the drift of /etc/nginx/nginx.conf on web1 (exit %d):\n%s", code, planOut)
	}
	logf("plan with one file drifted against the floor, %d runs each", runs)
	r.drift, r.driftFloor, err = b.pairs(ctx, b.skiffArgs("plan", "--detailed-exitcode"), []string{b.floor, "-i", b.inv})
	if err != nil {
		return err
	}
	for _, m := range r.drift.list {
		if m.exit != 2 {
			return fmt.Errorf("a timed skiff plan exited %d, not 2 (changes)", m.exit)
		}
	}

	r.machine = machineInfo(ctx)
	r.elapsed = time.Since(started)
	path := filepath.Join(root, out)
	if err := os.WriteFile(path, []byte(r.markdown()), 0o644); err != nil {
		return err
	}
	fmt.Print(r.markdown())
	logf("wrote %s in %s", out, r.elapsed.Round(time.Second))
	return nil
}

// skiffArgs is bin/skiff CMD -i INV playbooks/site.hcl EXTRA...
func (b *bench) skiffArgs(cmd string, extra ...string) []string {
	return append([]string{b.skiff, cmd, "-i", b.inv, playbook}, extra...)
}

// plan runs skiff plan --detailed-exitcode once and returns its exit code
// and output.
func (b *bench) plan(ctx context.Context) (int, string, error) {
	cmd := exec.CommandContext(ctx, b.skiff, "plan", "-i", b.inv, playbook, "--detailed-exitcode")
	cmd.Dir = b.root
	outb, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(outb), nil
		}
		return -1, string(outb), err
	}
	return 0, string(outb), nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
