package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// The fan-out measure (issue 6, measures 4 and 6): the small role of
// bench/fanout on the first 10, 25 and 50 of 50 test hosts, skiff and
// ansible-playbook in turn, and the floor for reference.
const (
	fanoutPlaybook        = "bench/fanout/playbooks/fanout.hcl"
	fanoutAnsiblePlaybook = "bench/fanout/ansible/fanout.yml"
	fanoutAnsibleConfig   = "bench/fanout/ansible/ansible.cfg"
	fanoutChartFile       = "bench/fanout.png"
)

// fanoutSizes are the host counts measured, each the first hosts of the
// cluster; the cluster has the last (largest) of them.
var fanoutSizes = []int{10, 25, 50}

// fanoutBench is the fan-out run's own state beside the bench's.
type fanoutBench struct {
	*bench
	cl      *testhosts.Cluster
	work    string // inventories, logs and Ansible's control sockets
	sshFrom string // the machine's address on the hosts' network
	ctlDir  string // Ansible's ControlPath folder
}

// fanout measures the fan-out (measureFanout) and adds its section to r.
func (b *bench) fanout(ctx context.Context, r *results) error {
	res, err := b.measureFanout(ctx)
	if err != nil {
		return err
	}
	r.sections = append(r.sections, res.markdown())
	return nil
}

// measureFanout starts 50 test hosts, measures the fan-out at each of
// fanoutSizes and writes the chart.
func (b *bench) measureFanout(ctx context.Context) (*fanoutResults, error) {
	started := time.Now()
	f := &fanoutBench{bench: b, work: filepath.Join(b.dir, "fanout")}
	if err := os.MkdirAll(f.work, 0o755); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "ansible-playbook", "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("ansible-playbook --version: %v (install Debian's ansible package: apt-get install -y ansible)", err)
	}
	ansibleV, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err := raiseInotifyInstances(1024); err != nil {
		return nil, err
	}

	largest := fanoutSizes[len(fanoutSizes)-1]
	names := make([]string, largest)
	for i := range names {
		names[i] = fmt.Sprintf("h%02d", i+1)
	}
	logf("fan-out: starting %d hosts", largest)
	f.cl, err = testhosts.Start(ctx, testhosts.Options{
		Prefix: testhosts.UniquePrefix("skiff-fanout"),
		Hosts:  names,
		Dir:    f.work,
		Logf:   quietBoots(logf),
	})
	if f.cl != nil {
		defer func() {
			f.closeControlMasters()
			logf("fan-out: removing the hosts")
			if err := f.cl.Close(); err != nil {
				logf("fan-out: removing the hosts: %v", err)
			}
		}()
	}
	if err != nil {
		return nil, err
	}
	res := &fanoutResults{runs: b.runs, startup: time.Since(started), ansible: ansibleV,
		chart: fanoutChartFile, when: time.Now().UTC().Format("2006-01-02 15:04")}
	logf("fan-out: %d hosts answer SSH after %s", largest, res.startup.Round(time.Second))
	f.sshFrom = f.cl.Gateway()
	f.ctlDir = filepath.Join(f.work, "cp")
	if err := os.MkdirAll(f.ctlDir, 0o700); err != nil {
		return nil, err
	}

	// Ansible's apt module needs python3-apt on the host; the image caches
	// its .deb. Installed once here, outside every timed run, and kept by
	// the resets.
	logf("fan-out: installing python3-apt for Ansible's apt module")
	if err := f.onHosts(ctx, f.cl.Hosts, 8, "command -v python3 >/dev/null && python3 -c 'import apt' 2>/dev/null || "+
		"DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-apt >/dev/null"); err != nil {
		return nil, err
	}

	for _, n := range fanoutSizes {
		z, err := f.size(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("fan-out at %d hosts: %w", n, err)
		}
		res.sizes = append(res.sizes, z)
	}

	res.drops, res.throttles, err = f.maxStartups(ctx)
	if err != nil {
		return nil, err
	}
	if err := res.writeChart(filepath.Join(b.root, fanoutChartFile)); err != nil {
		return nil, err
	}
	res.elapsed = time.Since(started)
	logf("fan-out: done in %s, chart in %s", res.elapsed.Round(time.Second), fanoutChartFile)
	return res, nil
}

// quietBoots drops testhosts' line per host booted (50 of them) and keeps
// the others.
func quietBoots(logf func(string, ...any)) func(string, ...any) {
	return func(format string, args ...any) {
		if strings.Contains(format, " up in ") {
			return
		}
		logf(format, args...)
	}
}

// raiseInotifyInstances makes sure the kernel allows min inotify instances
// per user: systemd in each container takes several, and the containers
// share root's count, so 50 hosts need more than the usual 128.
func raiseInotifyInstances(min int) error {
	const path = "/proc/sys/fs/inotify/max_user_instances"
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	have, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || have >= min {
		return err
	}
	logf("fan-out: raising fs.inotify.max_user_instances from %d to %d for 50 systemd hosts", have, min)
	if err := os.WriteFile(path, []byte(strconv.Itoa(min)+"\n"), 0o644); err != nil {
		return fmt.Errorf("raising %s to %d (50 systemd hosts need it; run as root): %w", path, min, err)
	}
	return nil
}

// size measures the first n hosts: the first converge of each tool on
// fresh hosts, each tool's check that the other's result needs no change,
// then one warm-up and f.runs counted rounds of no-op runs, skiff, Ansible
// and the floor in turn.
func (f *fanoutBench) size(ctx context.Context, n int) (fanoutSize, error) {
	z := fanoutSize{hosts: n}
	hosts := f.cl.Hosts[:n]
	inv, ansInv, err := f.inventories(n)
	if err != nil {
		return z, err
	}
	tag := fmt.Sprintf("%02d", n)

	logf("fan-out %d: resetting the hosts to fresh", n)
	if err := f.reset(ctx, hosts); err != nil {
		return z, err
	}
	logf("fan-out %d: first converge, skiff", n)
	m, peak, out, err := f.run(ctx, "skiff-first-"+tag+".log", true, f.skiffArgs(inv, "apply", "--yes", "--output", "json")...)
	if err != nil {
		return z, err
	}
	if err := checkSkiffReport(m, out, n, false); err != nil {
		return z, fmt.Errorf("skiff's first converge: %w", err)
	}
	z.skiffFirst, z.skiffFirstPeak = m, peak
	if err := f.planClean(ctx, inv, "after skiff's first converge"); err != nil {
		return z, err
	}
	logf("fan-out %d: ansible-playbook on skiff's result must change nothing", n)
	m, _, out, err = f.run(ctx, "ansible-check-"+tag+".log", false, f.ansibleArgs(ansInv, n)...)
	if err != nil {
		return z, err
	}
	if err := checkAnsibleRecap(m, out, n, true); err != nil {
		return z, fmt.Errorf("ansible-playbook after skiff converged: %w", err)
	}

	logf("fan-out %d: resetting the hosts to fresh", n)
	if err := f.reset(ctx, hosts); err != nil {
		return z, err
	}
	logf("fan-out %d: first converge, ansible-playbook", n)
	m, _, out, err = f.run(ctx, "ansible-first-"+tag+".log", false, f.ansibleArgs(ansInv, n)...)
	if err != nil {
		return z, err
	}
	if err := checkAnsibleRecap(m, out, n, false); err != nil {
		return z, fmt.Errorf("ansible-playbook's first converge: %w", err)
	}
	z.ansibleFirst = m
	if err := f.planClean(ctx, inv, "after Ansible's first converge"); err != nil {
		return z, err
	}

	logf("fan-out %d: no-op runs, skiff / ansible-playbook / floor in turn, %d rounds after one warm-up", n, f.runs)
	for i := 0; i <= f.runs; i++ {
		ms, peak, out, err := f.run(ctx, "skiff-noop-"+tag+".log", true, f.skiffArgs(inv, "apply", "--yes", "--output", "json")...)
		if err != nil {
			return z, err
		}
		if err := checkSkiffReport(ms, out, n, true); err != nil {
			return z, fmt.Errorf("no-op skiff apply: %w", err)
		}
		ma, _, out, err := f.run(ctx, "ansible-noop-"+tag+".log", false, f.ansibleArgs(ansInv, n)...)
		if err != nil {
			return z, err
		}
		if err := checkAnsibleRecap(ma, out, n, true); err != nil {
			return z, fmt.Errorf("no-op ansible-playbook: %w", err)
		}
		mf, _, _, err := f.run(ctx, "floor-"+tag+".log", false, f.floor, "-i", inv)
		if err != nil {
			return z, err
		}
		if mf.exit != 0 {
			return z, fmt.Errorf("the floor exited %d:\n%s", mf.exit, tail(mf.log, 20))
		}
		if i == 0 {
			continue // warm-up
		}
		logf("  run %d: skiff %.2fs (%.1f MiB), ansible %.2fs, floor %.2fs", i, ms.wall.Seconds(), float64(peak)/1024, ma.wall.Seconds(), mf.wall.Seconds())
		z.skiff.list = append(z.skiff.list, ms)
		z.ansible.list = append(z.ansible.list, ma)
		z.floor.list = append(z.floor.list, mf)
		z.skiffPeak = append(z.skiffPeak, peak)
	}
	return z, nil
}

// inventories writes the skiff and Ansible inventories of the first n
// hosts, each in its own folder (skiff keeps .skiff/ beside it).
func (f *fanoutBench) inventories(n int) (skiffInv, ansibleInv string, err error) {
	dir := filepath.Join(f.work, fmt.Sprintf("hosts-%02d", n))
	sub := *f.cl // the same hosts and keys, fewer hosts
	sub.Hosts = f.cl.Hosts[:n]
	skiffInv = filepath.Join(dir, "inventory.hcl")
	extra := fmt.Sprintf("group \"all\" {\n  vars = { ssh_from = %q }\n}\n", f.sshFrom)
	if err := sub.WriteInventory(skiffInv, nil, extra); err != nil {
		return "", "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The first %d fan-out test hosts, for ansible-playbook.\n", n)
	for _, h := range sub.Hosts {
		fmt.Fprintf(&b, "%s ansible_host=%s\n", h.Name, h.Address)
	}
	b.WriteString("\n[all:vars]\nansible_user=deploy\n")
	fmt.Fprintf(&b, "ansible_ssh_private_key_file=%s\n", f.cl.KeyFile)
	fmt.Fprintf(&b, "ansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'\n", f.cl.KnownHostsFile)
	fmt.Fprintf(&b, "ssh_from=%s\n", f.sshFrom)
	ansibleInv = filepath.Join(dir, "hosts.ini")
	return skiffInv, ansibleInv, os.WriteFile(ansibleInv, []byte(b.String()), 0o644)
}

func (f *fanoutBench) skiffArgs(inv, cmd string, extra ...string) []string {
	return append([]string{f.skiff, cmd, "-i", inv, fanoutPlaybook}, extra...)
}

func (f *fanoutBench) ansibleArgs(inv string, n int) []string {
	return []string{"ansible-playbook", "-i", inv, "-f", strconv.Itoa(n), fanoutAnsiblePlaybook}
}

// planClean fails unless `skiff plan --detailed-exitcode` finds nothing to
// change on the inventory's hosts.
func (f *fanoutBench) planClean(ctx context.Context, inv, when string) error {
	m, _, _, err := f.run(ctx, "skiff-plan.log", false, f.skiffArgs(inv, "plan", "--detailed-exitcode")...)
	if err != nil {
		return err
	}
	if m.exit != 0 {
		return fmt.Errorf("skiff plan --detailed-exitcode %s exits %d, not 0 (no change):\n%s", when, m.exit, tail(m.log, 40))
	}
	return nil
}

// run runs argv from the repository root, its stdout and stderr appended
// to logName in the fan-out folder, and returns its measurement and stdout.
// With watch it also returns the process's peak resident memory (KiB), read
// from VmHWM in /proc/PID/status every few milliseconds while it runs: the
// kernel's maxrss of a child started by this process would start from this
// process's own peak (exec records the old address space's high-water mark),
// while VmHWM belongs to the new address space alone. A non-zero exit is
// not an error.
func (f *fanoutBench) run(ctx context.Context, logName string, watch bool, argv ...string) (measurement, int64, []byte, error) {
	logPath := filepath.Join(f.work, logName)
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return measurement{}, 0, nil, err
	}
	defer lf.Close()
	fmt.Fprintf(lf, "### %s %s\n", time.Now().Format(time.RFC3339), strings.Join(argv, " "))
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = f.root
	cmd.Stdout, cmd.Stderr = &stdout, lf
	cmd.Env = append(os.Environ(),
		"ANSIBLE_CONFIG="+filepath.Join(f.root, fanoutAnsibleConfig),
		"ANSIBLE_SSH_CONTROL_PATH_DIR="+f.ctlDir,
		"ANSIBLE_NOCOLOR=1",
	)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measurement{}, 0, nil, fmt.Errorf("%s: %w", argv[0], err)
	}
	var peak int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	if watch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			peak = pollHWM(cmd.Process.Pid, done)
		}()
	}
	err = cmd.Wait()
	wall := time.Since(start)
	close(done)
	wg.Wait()
	_, _ = lf.Write(stdout.Bytes())
	if ctx.Err() != nil {
		return measurement{}, 0, nil, ctx.Err()
	}
	if cmd.ProcessState == nil {
		return measurement{}, 0, nil, fmt.Errorf("%s: %w", argv[0], err)
	}
	ps := cmd.ProcessState
	m := measurement{wall: wall, cpu: ps.UserTime() + ps.SystemTime(), exit: ps.ExitCode(), log: logPath}
	return m, peak, stdout.Bytes(), nil
}

// hwmInterval is how often pollHWM reads VmHWM. VmHWM only grows, so the
// last reading misses at most what the process added in its last interval.
const hwmInterval = 5 * time.Millisecond

// pollHWM returns the last VmHWM (KiB) read from /proc/pid/status before
// done closes or the process's memory is gone.
func pollHWM(pid int, done <-chan struct{}) int64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var last int64
	t := time.NewTicker(hwmInterval)
	defer t.Stop()
	for {
		if v, ok := readHWM(path); ok && v > last {
			last = v
		}
		select {
		case <-done:
			return last
		case <-t.C:
		}
	}
}

// readHWM reads the VmHWM line of a /proc/PID/status file; a process that
// has exited (a zombie) has none.
func readHWM(path string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb, true
			}
		}
	}
	return 0, false
}

// skiffReport is the part of `skiff apply --output json` the bench checks.
type skiffReport struct {
	Summary struct {
		OK          int `json:"ok"`
		Changed     int `json:"changed"`
		Failed      int `json:"failed"`
		Unreachable int `json:"unreachable"`
	} `json:"summary"`
	Hosts []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"hosts"`
}

// checkSkiffReport fails unless skiff exited 0 and reported all n hosts, none
// failed or unreachable; on a no-op run every host must be "ok", on a first
// converge every host "changed".
func checkSkiffReport(m measurement, stdout []byte, n int, noop bool) error {
	if m.exit != 0 {
		return fmt.Errorf("skiff exited %d:\n%s", m.exit, tail(m.log, 30))
	}
	var rep skiffReport
	if err := json.Unmarshal(stdout, &rep); err != nil {
		return fmt.Errorf("reading skiff's JSON report: %w", err)
	}
	want := "changed"
	if noop {
		want = "ok"
	}
	if len(rep.Hosts) != n {
		return fmt.Errorf("skiff reported %d hosts, not %d", len(rep.Hosts), n)
	}
	var bad []string
	for _, h := range rep.Hosts {
		if h.Status != want {
			bad = append(bad, fmt.Sprintf("%s: %s %s", h.Name, h.Status, h.Error))
		}
	}
	if len(bad) > 0 || rep.Summary.Failed+rep.Summary.Unreachable > 0 {
		return fmt.Errorf("want every host %s; %d failed, %d unreachable:\n%s", want, rep.Summary.Failed, rep.Summary.Unreachable, strings.Join(bad, "\n"))
	}
	return nil
}

// fanoutRecap matches one host's line of Ansible's PLAY RECAP.
var fanoutRecap = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// checkAnsibleRecap fails unless ansible-playbook exited 0 and its PLAY RECAP
// has all n hosts, none unreachable or failed; on a no-op run none
// changed, on a first converge every one did.
func checkAnsibleRecap(m measurement, stdout []byte, n int, noop bool) error {
	if m.exit != 0 {
		return fmt.Errorf("ansible-playbook exited %d:\n%s", m.exit, tail(m.log, 30))
	}
	_, recap, ok := strings.Cut(string(stdout), "PLAY RECAP")
	if !ok {
		return errors.New("ansible-playbook printed no PLAY RECAP")
	}
	lines := fanoutRecap.FindAllStringSubmatch(recap, -1)
	if len(lines) != n {
		return fmt.Errorf("PLAY RECAP has %d hosts, not %d", len(lines), n)
	}
	var bad []string
	for _, l := range lines {
		changed, _ := strconv.Atoi(l[3])
		if l[4] != "0" || l[5] != "0" || (noop && changed != 0) || (!noop && changed == 0) {
			bad = append(bad, strings.TrimSpace(l[0]))
		}
	}
	if len(bad) > 0 {
		what := "changed on every host"
		if noop {
			what = "changed=0"
		}
		return fmt.Errorf("want unreachable=0 failed=0 %s, got:\n%s", what, strings.Join(bad, "\n"))
	}
	return nil
}

// resetScript takes a host back to the image's state for the role: nginx
// and ufw purged (ufw disabled first, which empties its iptables chains)
// with what they pulled in, and the role's files gone. python3-apt stays,
// and so does /etc/ufw/applications.d (openssh-server's).
const resetScript = `set -e
export DEBIAN_FRONTEND=noninteractive
if command -v ufw >/dev/null 2>&1; then ufw disable >/dev/null; fi
rm -f /etc/nginx/conf.d/fanout.conf /var/www/html/fanout.html
apt-get purge -y -q nginx nginx-common ufw >/dev/null 2>&1
apt-get autoremove --purge -y -q >/dev/null 2>&1
rm -rf /etc/nginx /var/www /lib/ufw
find /etc/ufw -mindepth 1 -maxdepth 1 ! -name applications.d -exec rm -rf {} +
if dpkg-query -W -f '${Status}\n' nginx nginx-common ufw 2>/dev/null | grep -q 'ok installed'; then
  echo 'still installed' >&2; exit 1
fi`

// reset runs resetScript on hosts, a few at once.
func (f *fanoutBench) reset(ctx context.Context, hosts []testhosts.Host) error {
	return f.onHosts(ctx, hosts, 8, resetScript)
}

// onHosts runs a shell script as root in each host's container (beside
// SSH), at most par at once, and fails if it fails anywhere.
func (f *fanoutBench) onHosts(ctx context.Context, hosts []testhosts.Host, par int, script string) error {
	errs := make([]error, len(hosts))
	slots := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			errs[i] = f.sh(ctx, h.Name, script)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sh is bench.sh on the fan-out cluster.
func (f *fanoutBench) sh(ctx context.Context, host, script string) error {
	out, stderr, code, err := f.cl.ExecOutput(ctx, host, "sh", "-c", script)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s: script exited %d: %s%s", host, code, out, stderr)
	}
	return nil
}

// maxStartups counts, in every host's sshd journal since boot, the
// connections sshd dropped past MaxStartups and the times it began
// throttling (the hosts run sshd's stock settings, MaxStartups 10:30:100).
func (f *fanoutBench) maxStartups(ctx context.Context) (drops, throttles int, err error) {
	for _, h := range f.cl.Hosts {
		out, _, err := f.cl.Exec(ctx, h.Name, "sh", "-c",
			"j=$(journalctl -t sshd --no-pager -o cat); printf '%s %s\\n' \"$(printf '%s\\n' \"$j\" | grep -c 'past MaxStartups')\" \"$(printf '%s\\n' \"$j\" | grep -c 'beginning MaxStartups throttling')\"")
		if err != nil {
			return 0, 0, err
		}
		var d, t int
		if _, err := fmt.Sscanf(strings.TrimSpace(out), "%d %d", &d, &t); err != nil {
			return 0, 0, fmt.Errorf("%s: counting MaxStartups lines: %q", h.Name, out)
		}
		drops += d
		throttles += t
	}
	return drops, throttles, nil
}

// closeControlMasters ends the SSH control masters Ansible left running
// (ControlPersist), one per host, by their sockets.
func (f *fanoutBench) closeControlMasters() {
	if f.ctlDir == "" {
		return
	}
	socks, _ := filepath.Glob(filepath.Join(f.ctlDir, "*"))
	for _, s := range socks {
		_ = exec.Command("ssh", "-o", "ControlPath="+s, "-O", "exit", "fanout-host").Run()
	}
}
