package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// results is everything RESULTS.md reports.
type results struct {
	runs, hosts       int
	firstConverge     measurement
	noop, floor       series
	drift, driftFloor series
	driftSeen         bool
	sessions          []sessionCounts
	machine           []string
	elapsed           time.Duration

	// The Ansible side.
	ansibleFirst     measurement // first converge of its own fresh hosts
	convergeFloor    measurement // the plain script's, on its own fresh hosts
	ansibleSite      string      // "yes (…)" or "no: why": HTTPS through HAProxy after it
	skiffOnAnsible   planVerdict // skiff plan on the hosts Ansible converged
	ansibleRerun     string      // "yes" or "no: why": a second run changed nothing
	ansibleIdle      bool        // changed=0 on the hosts skiff converged
	ansibleNoop      series
	ansibleDrift     series // --check --diff, one file drifted
	ansibleDriftSeen bool

	// sections are further complete sections ("## …\n\n…"), rendered
	// after the SSH counts, before "Machine".
	sections []string
}

// machineInfo describes the machine the figures were taken on; commit is
// what skiffCommit said when the run started.
func machineInfo(ctx context.Context, commit string) []string {
	cmd := func(name string, args ...string) string {
		c := exec.CommandContext(ctx, name, args...)
		out, err := c.Output()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(out))
	}
	field := func(file, key string) string {
		data, err := os.ReadFile(file)
		if err != nil {
			return "unknown"
		}
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
				return strings.TrimSpace(v)
			}
			if k, v, ok := strings.Cut(line, "="); ok && k == key {
				return strings.Trim(v, `"`)
			}
		}
		return "unknown"
	}
	return []string{
		"date (UTC): " + time.Now().UTC().Format("2006-01-02 15:04"),
		fmt.Sprintf("processors: %d (%s)", runtime.NumCPU(), field("/proc/cpuinfo", "model name")),
		"memory: " + memTotal(field("/proc/meminfo", "MemTotal")),
		"kernel: " + cmd("uname", "-r"),
		"OS: " + field("/etc/os-release", "PRETTY_NAME"),
		"Docker: " + cmd("docker", "version", "--format", "{{.Server.Version}}"),
		"Go: " + runtime.Version(),
		"skiff commit: " + commit,
	}
}

// memTotal turns /proc/meminfo's "24683652 kB" into "23.5 GiB".
func memTotal(v string) string {
	var kb float64
	if _, err := fmt.Sscanf(v, "%f kB", &kb); err != nil {
		return v
	}
	return fmt.Sprintf("%.1f GiB", kb/(1<<20))
}

func secs(s stat) string { return fmt.Sprintf("%.2f s | %.2f s | %.2f s", s.med, s.min, s.max) }
func mib(s stat) string  { return fmt.Sprintf("%.1f MiB | %.1f MiB | %.1f MiB", s.med, s.min, s.max) }
func times(s stat) string {
	return fmt.Sprintf("%.2f× | %.2f× | %.2f×", s.med, s.min, s.max)
}

// markdown renders RESULTS.md.
func (r *results) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# skiff benchmark results (issue 6)\n\n")
	p("Written by `make bench` (bench/cmd/bench); do not edit by hand. ")
	p("%d stack hosts (web1 web2 db1 db2: local systemd+sshd containers), `playbooks/site.hcl` for skiff ", r.hosts)
	p("and `bench/ansible/site.yml` (the same work with Ansible's own modules) for `ansible-playbook` ")
	p("(Debian's ansible %s: pipelining, ControlPersist, facts off, forks ≥ hosts). ", ansibleVersion())
	p("Timed commands ran %d times each after one warm-up round, skiff, Ansible and the floor in turn, ratios round by round; ", r.runs)
	p("figures are whole-process (wall clock; user+system CPU and peak RSS from the kernel's accounting of the finished process ")
	p("and the children it waited for: Ansible's workers, not its ssh control masters, which outlive it). ")
	p("Quote medians: the machine is shared.\n\n")

	p("| measure | median | min | max |\n|---|---|---|---|\n")
	p("| first converge, fresh hosts: `skiff apply --yes` (1 run) | %.2f s | | |\n", r.firstConverge.wall.Seconds())
	p("| first converge, 4 other fresh hosts: `ansible-playbook site.yml` (1 run) | %.2f s | | |\n", r.ansibleFirst.wall.Seconds())
	p("| first converge, 4 other fresh hosts: a plain script, one `apt-get install` per host and the large files copied, configuring nothing (bench/floor -upload -run; 1 run) | %.2f s | | |\n", r.convergeFloor.wall.Seconds())
	if a := r.ansibleFirst.wall.Seconds(); a > 0 {
		p("| **first converge skiff / Ansible** (1 run each) | %.2f× | | |\n", r.firstConverge.wall.Seconds()/a)
	}
	if f := r.convergeFloor.wall.Seconds(); f > 0 {
		p("| first converge skiff / plain script, Ansible / plain script (1 run each) | %.2f×, %.2f× | | |\n", r.firstConverge.wall.Seconds()/f, r.ansibleFirst.wall.Seconds()/f)
	}
	p("| no-op converge: `skiff apply --yes` on converged hosts | %s |\n", secs(r.noop.wall()))
	p("| no-op converge: `ansible-playbook site.yml` on the same hosts (changed=0) | %s |\n", secs(r.ansibleNoop.wall()))
	p("| **no-op skiff / Ansible** (round by round) | %s |\n", times(ratio(r.noop, r.ansibleNoop)))
	p("| floor: connect to every host, run `true` (bench/floor) | %s |\n", secs(r.floor.wall()))
	p("| **no-op skiff / floor** (round by round) | %s |\n", times(ratio(r.noop, r.floor)))
	p("| `skiff plan`, converged hosts, one file drifted | %s |\n", secs(r.drift.wall()))
	p("| `ansible-playbook --check --diff`, same hosts | %s |\n", secs(r.ansibleDrift.wall()))
	p("| **plan skiff / Ansible** (round by round) | %s |\n", times(ratio(r.drift, r.ansibleDrift)))
	p("| plan skiff / floor (round by round) | %s |\n", times(ratio(r.drift, r.driftFloor)))
	p("| skiff CPU (user+sys), no-op converge | %s |\n", secs(r.noop.cpu()))
	p("| Ansible CPU (user+sys), no-op converge | %s |\n", secs(r.ansibleNoop.cpu()))
	p("| hosts' CPU (all %d containers), no-op `skiff apply` | %s |\n", r.hosts, secs(r.noop.hostCPU()))
	p("| hosts' CPU (all %d containers), no-op `ansible-playbook` | %s |\n", r.hosts, secs(r.ansibleNoop.hostCPU()))
	p("| hosts' CPU (all %d containers), floor | %s |\n", r.hosts, secs(r.floor.hostCPU()))
	p("| skiff CPU (user+sys), drifted plan | %s |\n", secs(r.drift.cpu()))
	p("| Ansible CPU (user+sys), drifted --check | %s |\n", secs(r.ansibleDrift.cpu()))
	p("| **skiff peak RSS, no-op converge (%d hosts)** | %s |\n", r.hosts, mib(r.noop.rssMiB()))
	p("| Ansible peak RSS (largest process), no-op converge | %s |\n", mib(r.ansibleNoop.rssMiB()))
	p("| skiff peak RSS, drifted plan | %s |\n", mib(r.drift.rssMiB()))
	p("| skiff peak RSS, first converge (1 run) | %.1f MiB | | |\n", float64(r.firstConverge.maxRSS)/1024)
	p("| floor peak RSS | %s |\n", mib(r.floor.rssMiB()))
	p("\n")

	sa := ratio(r.noop, r.ansibleNoop).med
	verdict := "met"
	if sa > 0.1 {
		verdict = fmt.Sprintf("missed: %.3f× Ansible's time, %.0f%% over the 0.1× bound", sa, (sa/0.1-1)*100)
	} else if sa > 0 {
		verdict = fmt.Sprintf("met: %.3f× Ansible's time, %.0f%% under the 0.1× bound", sa, (1-sa/0.1)*100)
	}
	p("Target \"no-op converge within 0.1× Ansible's time\": %s.\n\n", verdict)
	nf := ratio(r.noop, r.floor).med
	verdict = "met"
	if nf > 2 {
		verdict = fmt.Sprintf("missed: %.2f× the floor, %.0f%% over the 2× bound", nf, (nf/2-1)*100)
	} else if nf > 0 {
		verdict = fmt.Sprintf("met: %.2f× the floor (hosts' CPU per no-op %.2f s against %.2f s for the floor)", nf, r.noop.hostCPU().med, r.floor.hostCPU().med)
	}
	p("Target \"no-op converge within 2× of the floor\": %s.", verdict)
	if nf > 2 {
		hs, hf := r.noop.hostCPU().med, r.floor.hostCPU().med
		channels := 0
		for _, sc := range r.sessions {
			channels = max(channels, sc.channels)
		}
		p(" Why: a no-op still has to read the state of every task on every host. skiff does it in %d SSH session(s) per host ", channels)
		p("(the deploy lock's status, the facts and every play's reads in one; see the table below), ")
		p("and its probe helper answers most reads in one process (files, services over systemd's D-Bus socket, dpkg's status file); but some still start programs on the hosts ")
		p("(iptables for ufw, one mysql client call for the databases and users and one for the replica's replication state, ")
		p("and the roles' own `unless` commands), on top of what sshd and sudo cost for the session: ")
		p("the hosts used %.2f s of CPU per no-op against %.2f s for the floor, ", hs, hf)
		p("and here the %d hosts and skiff share the machine's %d processors, so that work is paid in wall time.", r.hosts, runtime.NumCPU())
	}
	p("\n\n")

	p("Checks:\n\n")
	p("- drift: after `/etc/nginx/nginx.conf` on web1 was edited by hand, `skiff plan --detailed-exitcode` exited 2 and its diff named the file and the added line: %s; ", yesNo(r.driftSeen))
	p("`ansible-playbook --check --diff` reported changes on web1 only, with a diff of that file removing the added line: %s.\n", yesNo(r.ansibleDriftSeen))
	p("- same work, skiff first: on the hosts skiff converged (once Ansible's own needs, python3-apt and PyMySQL, were installed: `--tags deps`), ")
	p("`ansible-playbook site.yml` reported changed=0 and failed=0 on every host: %s (and in every timed run).\n", yesNo(r.ansibleIdle))
	p("- same work, Ansible first: after Ansible's first converge of fresh hosts, the site answered over HTTPS through HAProxy (curl, trusting only skiff's CA): %s; ", r.ansibleSite)
	p("a second `ansible-playbook` run changed nothing: %s; ", r.ansibleRerun)
	p("`skiff plan --detailed-exitcode` on those hosts: %s.\n\n", r.skiffOnAnsible.verdict())

	p("## SSH per host in one no-op converge\n\n")
	p("Counted in each host's journal before and after one `skiff apply --yes` on converged hosts ")
	p("(sshd at LogLevel DEBUG1 for this run only). Connections: sshd `Accepted publickey`; ")
	p("logins: PAM `session opened` (one per connection); channels: SSH session channels opened on those connections ")
	p("(each remote command or SFTP subsystem is one); sudo: commands run through sudo.\n\n")
	p("| host | connections | logins | session channels | sudo commands |\n|---|---|---|---|---|\n")
	for _, s := range r.sessions {
		p("| %s | %d | %d | %d | %d |\n", s.host, s.connections, s.pamSessions, s.channels, s.sudo)
	}
	for _, sec := range r.sections {
		p("\n%s", strings.TrimRight(sec, "\n")+"\n")
	}
	p("\n## Machine\n\n")
	for _, m := range r.machine {
		p("- %s\n", m)
	}
	p("- `make bench` took %s, host start-up and first converge included\n", r.elapsed.Round(time.Second))

	p("\n## Limits of these figures\n\n")
	p("The first converges are a single run each, not medians, on two different sets of fresh hosts. ")
	p("Ansible's ssh control masters (ControlPersist) stay open between its runs, while each skiff run opens its connections anew; ")
	p("their CPU and memory are not in Ansible's figures.\n")
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// verdict describes one skiff plan run: no change, or the changes it listed.
func (v planVerdict) verdict() string {
	switch v.code {
	case 0:
		return "exit 0, no change"
	case 2:
		var lines []string
		for _, l := range strings.Split(v.out, "\n") {
			if t := strings.TrimSpace(l); t != "" && len(lines) < 12 {
				lines = append(lines, t)
			}
		}
		return "exit 2, changes: `" + strings.Join(lines, "` / `") + "`"
	}
	return fmt.Sprintf("exit %d (failed)", v.code)
}

// ansibleVersion is ansible-playbook's version ("core 2.14.18"), or "?".
func ansibleVersion() string {
	out, err := exec.Command("ansible-playbook", "--version").Output()
	if err != nil {
		return "?"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if i := strings.Index(first, "[core "); i >= 0 {
		return "ansible-core " + strings.Trim(first[i+1:], "[]")
	}
	return strings.TrimSpace(first)
}

// skiffCommit is the commit bin/skiff was built from, taken when the run
// starts (make bench builds it just before): commits made while a long run
// goes on are not what it measured.
func skiffCommit(ctx context.Context, root string) string {
	git := func(args ...string) string {
		c := exec.CommandContext(ctx, "git", args...)
		c.Dir = root
		c.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0") // git status must not write the index
		out, err := c.Output()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(out))
	}
	commit := git("rev-parse", "--short", "HEAD")
	// The bench's own outputs, written by earlier parts of the same run,
	// are not changes to what it measures.
	if st := git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/RESULTS.md", ":!bench/*.png"); st != "" && st != "unknown" {
		commit += " (with uncommitted changes)"
	}
	return commit
}
