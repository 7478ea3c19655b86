package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/skiffdeploy/skiff/bench/fleet"
	"github.com/skiffdeploy/skiff/integration/testhosts"
	"golang.org/x/crypto/ssh"
)

// The fleet measure: skiff's own cost per host at 100, 1,000 and 5,000
// hosts, against fake hosts served by bench/fleet in this process. The
// answers are those of one real test host converged with the fanout role,
// recorded once through the fleet server acting as a proxy; the fake hosts
// then replay them, so their side costs next to nothing and what grows with
// the host count is skiff's own work.

// fleetSizes are the host counts measured directly; fleetBastionSize is
// the one measured through a bastion.
var fleetSizes = []int{100, 1000, 5000}

const fleetBastionSize = 1000

// fleetProfileSize is the size of the one profiled run (one of fleetSizes).
const fleetProfileSize = 1000

// fleetLargeRuns bounds the counted runs at 5,000 hosts (the machine is
// shared); the others get -n.
const fleetLargeRuns = 2

const fleetChartFile = "bench/fleet.png"

type fleetBench struct {
	*bench
	work       string
	port       int
	keyFile    string
	clientKey  ssh.PublicKey
	knownHosts string
	sshFrom    string // the recorded host's ssh_from, the same in every inventory
	book       *fleet.Book
	srv        *fleet.Server
	runner     *fanoutBench // runs and watches commands
	profBin    string       // skiff built with profiles
}

// measureFleet records one real host's answers, then measures skiff on
// the fake fleet.
func (b *bench) measureFleet(ctx context.Context) (*fleetResults, error) {
	started := time.Now()
	f := &fleetBench{bench: b, work: filepath.Join(b.dir, "fleet"), book: fleet.NewBook()}
	f.runner = &fanoutBench{bench: b, work: f.work}
	if err := os.MkdirAll(f.work, 0o755); err != nil {
		return nil, err
	}
	var err error
	f.keyFile = filepath.Join(f.work, "id_ed25519")
	if f.clientKey, _, err = fleet.WriteClientKey(f.keyFile); err != nil {
		return nil, err
	}
	if f.port, err = fleet.FreePort(); err != nil {
		return nil, fmt.Errorf("fleet: no free port on 127.1.0.1 (%w)", err)
	}
	if err := f.buildProfiled(ctx); err != nil {
		return nil, err
	}
	if err := f.record(ctx); err != nil {
		return nil, fmt.Errorf("fleet: recording: %w", err)
	}
	res := &fleetResults{runs: b.runs, largeRuns: min(b.runs, fleetLargeRuns), when: time.Now().UTC().Format("2006-01-02 15:04"),
		recorded: f.book.Requests(), chart: fleetChartFile, commit: skiffCommit(ctx, b.root)}

	largest := fleetSizes[len(fleetSizes)-1]
	f.srv, err = fleet.New(f.clientKey, fleet.Replay(f.book))
	if err != nil {
		return nil, err
	}
	defer f.srv.Close()
	var known strings.Builder
	for i := range largest {
		addr := fleet.HostAddr(i, f.port)
		if _, err := f.srv.Listen(addr); err != nil {
			return nil, fmt.Errorf("fleet: listen on %s: %w (ulimit -n is %s)", addr, err, nofile())
		}
		known.WriteString(f.srv.KnownHostsLine(addr) + "\n")
	}
	bastion := fleet.BastionAddr(f.port)
	bep, err := f.srv.Listen(bastion)
	if err != nil {
		return nil, err
	}
	known.WriteString(f.srv.KnownHostsLine(bastion) + "\n")
	f.knownHosts = filepath.Join(f.work, "known_hosts")
	if err := os.WriteFile(f.knownHosts, []byte(known.String()), 0o644); err != nil {
		return nil, err
	}
	logf("fleet: %d fake hosts listening (port %d), and a bastion", largest, f.port)

	for _, n := range fleetSizes {
		z, err := f.size(ctx, n, "", nil)
		if err != nil {
			return nil, fmt.Errorf("fleet at %d hosts: %w", n, err)
		}
		res.sizes = append(res.sizes, z)
	}
	logf("fleet: one profiled no-op apply on %d hosts", fleetProfileSize)
	if res.profile, err = f.profile(ctx, filepath.Join(f.work, fmt.Sprintf("hosts-%d", fleetProfileSize), "inventory.hcl"), fleetProfileSize); err != nil {
		return nil, err
	}
	z, err := f.size(ctx, fleetBastionSize, bastion, bep)
	if err != nil {
		return nil, fmt.Errorf("fleet at %d hosts through a bastion: %w", fleetBastionSize, err)
	}
	res.bastion = z
	if err := res.writeChart(filepath.Join(b.root, fleetChartFile)); err != nil {
		return nil, err
	}
	res.elapsed = time.Since(started)
	logf("fleet: done in %s, chart in %s", res.elapsed.Round(time.Second), fleetChartFile)
	return res, nil
}

// record converges one real test host with the fanout role, then runs a
// no-op apply and `skiff exec -- true` through the fleet server acting as a
// proxy to it, twice each, filing the exchanges in f.book.
func (f *fleetBench) record(ctx context.Context) error {
	logf("fleet: starting one real host to record its answers")
	cl, err := testhosts.Start(ctx, testhosts.Options{
		Prefix: testhosts.UniquePrefix("skiff-fleet"),
		Hosts:  []string{"rec"},
		Dir:    filepath.Join(f.work, "rec"),
		Logf:   quietBoots(logf),
	})
	if cl != nil {
		defer func() {
			if err := cl.Close(); err != nil {
				logf("fleet: removing the recorded host: %v", err)
			}
		}()
	}
	if err != nil {
		return err
	}
	f.sshFrom = cl.Gateway()
	realInv := filepath.Join(f.work, "rec", "inventory.hcl")
	if err := cl.WriteInventory(realInv, nil, f.varsHCL()); err != nil {
		return err
	}
	logf("fleet: converging it (fanout role)")
	m, _, out, err := f.runner.run(ctx, "fleet-record.log", false, f.skiffArgs(realInv, "apply", "--yes", "--output", "json")...)
	if err != nil {
		return err
	}
	if err := checkSkiffReport(m, out, 1, false); err != nil {
		return fmt.Errorf("first converge of the recorded host: %w", err)
	}

	client, err := cl.Dial(ctx, "rec", "deploy")
	if err != nil {
		return err
	}
	defer client.Close()
	proxy, err := fleet.New(f.clientKey, fleet.Recorder(client, f.book))
	if err != nil {
		return err
	}
	defer proxy.Close()
	addr := fleet.HostAddr(0, f.port)
	if _, err := proxy.Listen(addr); err != nil {
		return err
	}
	known := filepath.Join(f.work, "rec", "proxy_known_hosts")
	if err := os.WriteFile(known, []byte(proxy.KnownHostsLine(addr)+"\n"), 0o644); err != nil {
		return err
	}
	inv := filepath.Join(f.work, "rec", "proxy", "inventory.hcl")
	if err := f.writeInventory(inv, 1, known, ""); err != nil {
		return err
	}
	for i := range 2 {
		m, _, out, err := f.runner.run(ctx, "fleet-record.log", false, f.skiffArgs(inv, "apply", "--yes", "--output", "json")...)
		if err != nil {
			return err
		}
		if err := checkSkiffReport(m, out, 1, true); err != nil {
			return fmt.Errorf("no-op apply %d through the recorder: %w", i+1, err)
		}
		if m, _, _, err = f.runner.run(ctx, "fleet-record.log", false, f.execArgs(inv)...); err != nil {
			return err
		} else if err := exitZero(m); err != nil {
			return fmt.Errorf("skiff exec -- true through the recorder: %w", err)
		}
	}
	if st := proxy.StatsOf(); st.Misses > 0 {
		return fmt.Errorf("%d sessions could not be recorded: %s", st.Misses, st.LastMiss)
	}
	if v := f.book.Varied(); v > 0 {
		return fmt.Errorf("%d requests got different answers in two runs: the replay would not be faithful; the last:\n%s", v, f.book.LastVaried())
	}
	logf("fleet: recorded %d distinct requests", f.book.Len())
	return nil
}

func (f *fleetBench) varsHCL() string {
	return fmt.Sprintf("group \"all\" {\n  vars = { ssh_from = %q }\n}\n", f.sshFrom)
}

// writeInventory writes an inventory of the first n fake hosts, through
// bastion when it is set, in its own folder (skiff keeps .skiff/ beside it).
func (f *fleetBench) writeInventory(path string, n int, knownHosts, bastion string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %d fake hosts of the fleet bench (bench/fleet).\n", n)
	b.WriteString("defaults {\n  user        = \"deploy\"\n")
	fmt.Fprintf(&b, "  port        = %d\n", f.port)
	fmt.Fprintf(&b, "  private_key = %q\n  known_hosts = %q\n  become      = true\n", f.keyFile, knownHosts)
	if bastion != "" {
		fmt.Fprintf(&b, "  bastion     = %q\n", "deploy@"+bastion)
	}
	b.WriteString("}\n")
	for i := range n {
		host, _, _ := strings.Cut(fleet.HostAddr(i, f.port), ":")
		fmt.Fprintf(&b, "\nhost \"f%05d\" {\n  address = %q\n}\n", i+1, host)
	}
	b.WriteString("\n" + f.varsHCL())
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func (f *fleetBench) skiffArgs(inv, cmd string, extra ...string) []string {
	return f.argsOf(f.skiff, inv, cmd, extra...)
}

func (f *fleetBench) argsOf(bin, inv, cmd string, extra ...string) []string {
	return append([]string{bin, cmd, "-i", inv, fanoutPlaybook}, extra...)
}

func (f *fleetBench) execArgs(inv string) []string {
	return []string{f.skiff, "exec", "-i", inv, "--output", "json", "--", "true"}
}

// size measures n fake hosts (through bastion when set): a warm-up pair
// below 5,000 hosts, then counted no-op applies and floors in turn.
func (f *fleetBench) size(ctx context.Context, n int, bastion string, bep *fleet.Endpoint) (fleetSize, error) {
	z := fleetSize{hosts: n, bastion: bastion != "", load: loadAvg()}
	tag := fmt.Sprintf("%d", n)
	if bastion != "" {
		tag += "-bastion"
	}
	inv := filepath.Join(f.work, "hosts-"+tag, "inventory.hcl")
	if err := f.writeInventory(inv, n, f.knownHosts, bastion); err != nil {
		return z, err
	}
	runs := f.runs
	if n >= 5000 || bastion != "" {
		runs = min(f.runs, fleetLargeRuns)
	}
	warm := n < 5000 && bastion == ""
	logf("fleet: %s hosts: %d counted runs of each", tag, runs)
	for i := 0; i < runs+btoi(warm); i++ {
		counted := !warm || i > 0
		f.srv.ResetStats()
		self := selfCPU()
		m, peak, out, err := f.runner.run(ctx, "fleet-apply-"+tag+".log", true, f.skiffArgs(inv, "apply", "--yes", "--output", "json")...)
		if err != nil {
			return z, err
		}
		serverCPU := selfCPU() - self
		st := f.srv.StatsOf(bastion)
		if err := checkSkiffReport(m, out, n, true); err != nil {
			return z, fmt.Errorf("no-op apply: %w (fleet: %d sessions unanswered; last: %s)", err, st.Misses, st.LastMiss)
		}
		if st.Misses > 0 {
			return z, fmt.Errorf("no-op apply: %d sessions had no recorded answer; last: %s", st.Misses, st.LastMiss)
		}
		run := fleetRun{m: m, peakKiB: peak, serverCPU: serverCPU, maxUnauth: st.MaxUnauth, sessions: st.Sessions}
		if bep != nil {
			run.bastionMaxUnauth = bep.MaxUnauth()
		}

		f.srv.ResetStats()
		self = selfCPU()
		fm, fpeak, _, err := f.runner.run(ctx, "fleet-exec-"+tag+".log", true, f.execArgs(inv)...)
		if err != nil {
			return z, err
		}
		floorServer := selfCPU() - self
		if err := exitZero(fm); err != nil {
			return z, fmt.Errorf("skiff exec -- true: %w", err)
		}
		floor := fleetRun{m: fm, peakKiB: fpeak, serverCPU: floorServer, maxUnauth: f.srv.StatsOf(bastion).MaxUnauth}
		if bep != nil {
			floor.bastionMaxUnauth = bep.MaxUnauth()
		}
		logf("  %s hosts%s: apply %.2fs (cpu %.2fs, %.0f MiB, most unauthenticated at once %d per host%s), exec true %.2fs (cpu %.2fs, %.0f MiB)",
			tag, map[bool]string{true: "", false: " (warm-up)"}[counted], m.wall.Seconds(), m.cpu.Seconds(), float64(peak)/1024, st.MaxUnauth,
			bastionNote(run.bastionMaxUnauth, bep != nil), fm.wall.Seconds(), fm.cpu.Seconds(), float64(fpeak)/1024)
		if counted {
			z.apply = append(z.apply, run)
			z.floor = append(z.floor, floor)
		}
	}
	return z, nil
}

func bastionNote(n int, on bool) string {
	if !on {
		return ""
	}
	return fmt.Sprintf(", %d at the bastion", n)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// selfCPU is this process's CPU time so far (user+system): the fake
// fleet's, between two readings around a run.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the machine's load average over the last minute, as
// /proc/loadavg says; "?" where unreadable.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func nofile() string {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return "unknown"
	}
	return fmt.Sprint(r.Cur)
}
