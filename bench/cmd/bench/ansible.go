package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/integration/sumostandin/debbuild"
	"github.com/skiffdeploy/skiff/integration/testhosts"
	"github.com/skiffdeploy/skiff/internal/pki"
)

// The Ansible side of the comparison: bench/ansible/site.yml does the work
// of playbooks/site.hcl with Ansible's own modules, on the same test hosts,
// reading the same site variables, secrets and certificates as skiff.
const (
	ansibleDir      = "bench/ansible"
	ansiblePlaybook = "bench/ansible/site.yml"
	// siteDomain is the domain testhosts.SiteSettings gives skiff.
	siteDomain = "www.foobar.com"
)

// ansibleSite is what ansible-playbook needs for one cluster: its inventory
// and the folder of its SSH control sockets (ControlPersist).
type ansibleSite struct {
	inventory  string
	controlDir string
}

// prepareAnsible writes the Ansible inventory for cluster c, whose skiff
// inventory (and so .skiff/pki) and testhosts.SiteSettings files are in dir,
// and makes sure skiff's local CA holds every certificate the site uses, as
// skiff issues them (same names, DNS names and addresses), so that both tools
// deploy the same bytes.
func prepareAnsible(c *testhosts.Cluster, groups map[string][]string, root, dir string) (*ansibleSite, error) {
	pkiDir := filepath.Join(dir, ".skiff", "pki")
	if err := issueSiteCerts(pkiDir, c, groups); err != nil {
		return nil, err
	}
	inv, err := ansibleInventory(c, groups, map[string]any{
		// testhosts.SiteSettings's values for skiff's inventory.
		"domain":       siteDomain,
		"admin_cidrs":  []string{c.Gateway() + "/32"},
		"app_version":  "1.0.0",
		"app_binary":   filepath.Join(root, "bin", "foobar-app"),
		"sumo_package": filepath.Join(dir, debbuild.FileName),
		"sumo_url":     "http://" + c.Gateway() + ":9",
		// Where site.yml finds the secrets and the certificates.
		"secrets_dir": filepath.Join(dir, "secrets"),
		"pki_dir":     pkiDir,
	})
	if err != nil {
		return nil, err
	}
	a := &ansibleSite{
		inventory:  filepath.Join(dir, "ansible-inventory.json"),
		controlDir: filepath.Join(dir, "ansible-cp"),
	}
	if err := os.WriteFile(a.inventory, inv, 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(a.controlDir, 0o700); err != nil {
		return nil, err
	}
	return a, nil
}

// issueSiteCerts issues (or finds kept) the certificates the site's roles
// take from skiff's local CA in pkiDir: nginx-HOST for each web host (the
// domain and the host's name, its address) and mysql-HOST for each db host.
func issueSiteCerts(pkiDir string, c *testhosts.Cluster, groups map[string][]string) error {
	ca, err := pki.Open(pkiDir)
	if err != nil {
		return err
	}
	for _, h := range c.Hosts {
		for _, g := range groups[h.Name] {
			var err error
			switch g {
			case "web":
				_, _, err = ca.Issue("nginx-"+h.Name, []string{siteDomain, h.Name}, []string{h.Address})
			case "db_primary", "db_replica":
				_, _, err = ca.Issue("mysql-"+h.Name, []string{h.Name}, []string{h.Address})
			}
			if err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		}
	}
	return nil
}

// ansibleInventory renders a YAML inventory (in its JSON form, which the yaml
// plugin reads) for the cluster's hosts: each host's address, the groups in
// the order their first host appears (hosts in cluster order, which Ansible
// keeps, as skiff keeps inventory order), SSH as deploy with the cluster key
// and known_hosts (only the ed25519 keys it lists, as skiff), sudo, and vars.
func ansibleInventory(c *testhosts.Cluster, groups map[string][]string, vars map[string]any) ([]byte, error) {
	q := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err) // strings, lists of strings and bools only
		}
		return string(b)
	}
	var order []string
	members := map[string][]string{}
	for _, h := range c.Hosts {
		for _, g := range groups[h.Name] {
			if _, ok := members[g]; !ok {
				order = append(order, g)
			}
			members[g] = append(members[g], h.Name)
		}
	}
	conn := map[string]any{
		"ansible_user":                 "deploy",
		"ansible_become":               true,
		"ansible_ssh_private_key_file": c.KeyFile,
		"ansible_ssh_common_args": strings.Join([]string{
			"-o UserKnownHostsFile=" + c.KnownHostsFile,
			"-o StrictHostKeyChecking=yes",
			"-o HostKeyAlgorithms=ssh-ed25519",
		}, " "),
	}
	for k, v := range vars {
		conn[k] = v
	}

	var b bytes.Buffer
	b.WriteString("{\"all\": {\n  \"hosts\": {\n")
	for i, h := range c.Hosts {
		sep := ","
		if i == len(c.Hosts)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s: {\"ansible_host\": %s}%s\n", q(h.Name), q(h.Address), sep)
	}
	b.WriteString("  },\n  \"children\": {\n")
	for i, g := range order {
		hosts := make([]string, len(members[g]))
		for j, n := range members[g] {
			hosts[j] = q(n) + ": null"
		}
		sep := ","
		if i == len(order)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s: {\"hosts\": {%s}}%s\n", q(g), strings.Join(hosts, ", "), sep)
	}
	vj, err := json.MarshalIndent(conn, "  ", "  ")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, "  },\n  \"vars\": %s\n}}\n", vj)
	if !json.Valid(b.Bytes()) {
		return nil, fmt.Errorf("ansible inventory: invalid JSON:\n%s", b.String())
	}
	return b.Bytes(), nil
}

// args is the ansible-playbook command line for a: bench/ansible's
// configuration and site.yml on a's inventory, then extra.
func (a *ansibleSite) args(extra ...string) []string {
	argv := []string{"env",
		"ANSIBLE_CONFIG=" + filepath.Join(ansibleDir, "ansible.cfg"),
		"ANSIBLE_SSH_CONTROL_PATH_DIR=" + a.controlDir,
		"ansible-playbook", "-i", a.inventory, ansiblePlaybook}
	return append(argv, extra...)
}

// stopControlMasters ends the SSH control masters (ControlPersist) that
// ansible-playbook left for a's hosts, each through its own socket.
func (a *ansibleSite) stopControlMasters(ctx context.Context) {
	socks, _ := filepath.Glob(filepath.Join(a.controlDir, "*"))
	for _, s := range socks {
		cmd := exec.CommandContext(ctx, "ssh", "-o", "ControlPath="+s, "-O", "exit", "skiff-bench")
		_ = cmd.Run() // a master already gone leaves a stale socket: nothing to stop
	}
}

// recapLine is one host's line of ansible-playbook's PLAY RECAP.
type recapLine struct {
	host                                      string
	ok, changed, unreachable, failed, skipped int
}

var recapRE = regexp.MustCompile(`^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)`)

// parseRecap reads the PLAY RECAP of one ansible-playbook run's output.
func parseRecap(out string) ([]recapLine, error) {
	_, after, found := strings.Cut(out, "PLAY RECAP ")
	if !found {
		return nil, fmt.Errorf("no PLAY RECAP in ansible-playbook's output")
	}
	var lines []recapLine
	for _, line := range strings.Split(after, "\n") {
		m := recapRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		n := make([]int, 5)
		for i := range n {
			n[i], _ = strconv.Atoi(m[i+2])
		}
		lines = append(lines, recapLine{m[1], n[0], n[1], n[2], n[3], n[4]})
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("PLAY RECAP lists no host")
	}
	return lines, nil
}

// changedTasks lists "TASK [name] on host" for each task that ansible-playbook
// reported changed (or, in check mode, would change).
func changedTasks(out string) []string {
	var list []string
	task := ""
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "TASK [") || strings.HasPrefix(line, "RUNNING HANDLER ["):
			task = strings.TrimRight(strings.TrimRight(line, "*"), " ")
		case strings.HasPrefix(line, "changed: ["):
			host, _, _ := strings.Cut(strings.TrimPrefix(line, "changed: ["), "]")
			list = append(list, task+" on "+host)
		}
	}
	return list
}

// checkRecap checks one run's recap: every host of hosts is listed, none
// failed or unreachable, and the number of changes on each host is what
// changed allows (nil: any number).
func checkRecap(out string, hosts []string, changed func(host string, n int) bool) ([]recapLine, error) {
	recap, err := parseRecap(out)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var bad []string
	for _, r := range recap {
		seen[r.host] = true
		switch {
		case r.failed > 0 || r.unreachable > 0:
			bad = append(bad, fmt.Sprintf("%s: failed=%d unreachable=%d", r.host, r.failed, r.unreachable))
		case changed != nil && !changed(r.host, r.changed):
			bad = append(bad, fmt.Sprintf("%s: changed=%d", r.host, r.changed))
		}
	}
	for _, h := range hosts {
		if !seen[h] {
			bad = append(bad, h+": not in the PLAY RECAP")
		}
	}
	if len(bad) > 0 {
		msg := strings.Join(bad, "; ")
		if tasks := changedTasks(out); len(tasks) > 0 && len(tasks) <= 40 {
			msg += "\nchanged:\n  " + strings.Join(tasks, "\n  ")
		}
		return recap, fmt.Errorf("%s", msg)
	}
	return recap, nil
}

// noChange allows no change on any host.
func noChange(_ string, n int) bool { return n == 0 }

// runOutput is the output of the run m measured (its part of the log).
func runOutput(m measurement) string {
	data, err := os.ReadFile(m.log)
	if err != nil {
		return err.Error()
	}
	if m.logFrom > 0 && m.logFrom <= int64(len(data)) {
		data = data[m.logFrom:]
	}
	return string(data)
}

// ansibleDriftSeen reports whether an ansible-playbook --check --diff run
// reported the drift of /etc/nginx/nginx.conf on web1: a change on web1
// only, and a diff of that file removing the line added by hand.
func ansibleDriftSeen(out string) error {
	if _, err := checkRecap(out, nil, func(host string, n int) bool {
		if host == "web1" {
			return n > 0
		}
		return n == 0
	}); err != nil {
		return err
	}
	if !strings.Contains(out, "/etc/nginx/nginx.conf") || !regexp.MustCompile(`(?m)^-# drifted by hand \(bench\)$`).MatchString(out) {
		return fmt.Errorf("no diff of /etc/nginx/nginx.conf removing the line added by hand")
	}
	return nil
}

// fetchSite gets https://www.foobar.com/version through HAProxy at lb with
// curl, trusting only caFile, retrying for up to a minute while HAProxy's
// health checks bring the web servers up. It returns the body.
func fetchSite(ctx context.Context, caFile, lb string) (string, error) {
	url := "https://" + siteDomain + "/version"
	var last string
	for attempt := 0; attempt < 60; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Second):
			}
		}
		cmd := exec.CommandContext(ctx, "curl", "-fsS", "--max-time", "5", "--cacert", caFile,
			"--resolve", siteDomain+":443:"+lb, url)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return strings.TrimSpace(string(out)), nil
		}
		last = strings.TrimSpace(string(out))
	}
	return "", fmt.Errorf("curl %s through %s: %s", url, lb, last)
}

// ansibleFirstConverge starts 4 fresh stack hosts of their own, deploys
// site.yml to them with ansible-playbook (timed, once), then checks the
// converse of the no-op comparison: the site answers over HTTPS through
// HAProxy, `skiff plan` finds nothing to change (recorded, not required),
// and a second ansible-playbook run changes nothing. It removes those hosts.
func (b *bench) ansibleFirstConverge(ctx context.Context, r *results) error {
	dir := filepath.Join(b.dir, "ansible-fresh")
	names, groups := testhosts.SiteHosts()
	logf("starting %d fresh hosts for Ansible's first converge", len(names))
	c, err := testhosts.Start(ctx, testhosts.Options{
		Prefix: testhosts.UniquePrefix("skiff-bench-ansible"),
		Hosts:  names,
		Dir:    dir,
		Logf:   logf,
	})
	if c != nil {
		defer func() {
			logf("removing Ansible's hosts")
			if err := c.Close(); err != nil {
				logf("removing Ansible's hosts: %v", err)
			}
		}()
	}
	if err != nil {
		return err
	}
	extra, err := c.SiteSettings(ctx, b.root, dir, "")
	if err != nil {
		return err
	}
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, groups, extra); err != nil {
		return err
	}
	a, err := prepareAnsible(c, groups, b.root, dir)
	if err != nil {
		return err
	}
	defer a.stopControlMasters(context.WithoutCancel(ctx))

	logf("first converge: ansible-playbook %s", ansiblePlaybook)
	m, err := b.once(ctx, "ansible-first-converge.log", a.args()...)
	if err != nil {
		return err
	}
	if _, err := checkRecap(runOutput(m), names, nil); err != nil || m.exit != 0 {
		return fmt.Errorf("the first converge of Ansible failed (exit %d): %v\n%s", m.exit, err, tail(m.log, 40))
	}
	r.ansibleFirst = m

	web1, err := c.Host("web1")
	if err != nil {
		return err
	}
	if body, err := fetchSite(ctx, filepath.Join(dir, ".skiff", "pki", "ca.crt"), web1.Address); err != nil {
		r.ansibleSite = "no: " + err.Error()
	} else {
		r.ansibleSite = fmt.Sprintf("yes (/version through HAProxy on web1: %q)", body)
	}

	code, out, err := b.planOn(ctx, inv)
	if err != nil {
		return err
	}
	r.skiffOnAnsible = planVerdict{code: code, out: out}
	logf("skiff plan on the hosts Ansible converged: exit %d", code)

	again, err := b.once(ctx, "ansible-second-run.log", a.args()...)
	if err != nil {
		return err
	}
	if _, err := checkRecap(runOutput(again), names, noChange); err != nil {
		r.ansibleRerun = "no: " + err.Error()
	} else {
		r.ansibleRerun = "yes"
	}
	return nil
}

// ansibleOnSkiffHosts installs Ansible's own needs on the hosts skiff
// converged (site.yml's tag deps: python3-apt, PyMySQL), then requires a
// full ansible-playbook run to change nothing on any host: otherwise the
// no-op comparison would compare different work.
func (b *bench) ansibleOnSkiffHosts(ctx context.Context, r *results, names []string) error {
	logf("installing Ansible's own needs on skiff's hosts (ansible-playbook --tags deps)")
	deps, err := b.once(ctx, "ansible-deps.log", b.ans.args("--tags", "deps")...)
	if err != nil {
		return err
	}
	if _, err := checkRecap(runOutput(deps), names, nil); err != nil || deps.exit != 0 {
		return fmt.Errorf("ansible-playbook --tags deps failed (exit %d): %v\n%s", deps.exit, err, tail(deps.log, 40))
	}
	logf("ansible-playbook on the hosts skiff converged: changed=0 expected")
	m, err := b.once(ctx, "ansible-on-skiff.log", b.ans.args()...)
	if err != nil {
		return err
	}
	if _, err := checkRecap(runOutput(m), names, noChange); err != nil {
		return fmt.Errorf("ansible-playbook on the hosts skiff converged does not report changed=0 everywhere: %w", err)
	}
	r.ansibleIdle = true
	return nil
}

// planVerdict is one skiff plan --detailed-exitcode: its exit and output.
type planVerdict struct {
	code int
	out  string
}
