package integration

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// overallExposure is the verdict line of `systemd-analyze security UNIT`.
var overallExposure = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9]+(?:\.[0-9]+)?) (\S+)`)

// TestAppUnitSandboxed deploys the site on its smallest cluster (web1 as
// lb and web, db1 the primary, db2 the replica) and audits the app's
// systemd unit with systemd-analyze: an overall exposure of 2.0 or less
// ("OK"), the app serving through nginx and HAProxy, and a rolling upgrade
// that restarts it into the new release with its log still written.
func TestAppUnitSandboxed(t *testing.T) {
	c := startCluster(t, []string{"web1", "db1", "db2"}, nil)
	root, _ := testhosts.RepoRoot()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	settings, err := c.SiteSettings(ctx, root, filepath.Join(dir, "site"), "")
	if err != nil {
		t.Fatalf("site settings: %v", err)
	}
	inv := filepath.Join(dir, "inventory.hcl")
	groups := map[string][]string{"web1": {"lb", "web"}, "db1": {"db_primary"}, "db2": {"db_replica"}}
	if err := c.WriteInventory(inv, groups, settings); err != nil {
		t.Fatal(err)
	}
	if r := skiff(t, "apply", "-i", inv, "playbooks/site.hcl", "--yes"); r.code != 0 {
		t.Fatalf("deploying the site: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	s := &stackSite{c: c, ca: filepath.Join(dir, ".skiff", "pki", "ca.crt"), addr: map[string]string{}}
	for _, h := range c.Hosts {
		s.addr[h.Name] = h.Address
	}
	eventually(t, 60*time.Second, "the site answering through web1", func() (bool, string) {
		out, err := s.curlSite("web1")
		return err == nil && strings.Contains(out, "Visit number"), out
	})

	auditAppUnit(t, c, "web1")

	t.Run("the second apply changes nothing", func(t *testing.T) {
		if r := skiff(t, "plan", "-i", inv, "playbooks/site.hcl", "--detailed-exitcode"); r.code != 0 {
			t.Errorf("plan after the apply: exit %d\n%s", r.code, r.stdout)
		}
	})

	upgradeSandboxedApp(t, s, inv, "web1")
}

// failedChecks keeps the lines of systemd-analyze's table that add to the
// exposure.
func failedChecks(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "✗") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// auditAppUnit rates the app's unit on the web host with systemd-analyze
// security: an overall exposure of 2.0 or less ("OK").
func auditAppUnit(t *testing.T, c *testhosts.Cluster, web string) {
	t.Helper()
	t.Run("systemd-analyze rates the unit OK", func(t *testing.T) {
		out, code := hostExec(t, c, web, "systemd-analyze security --no-pager foobar-app.service")
		m := overallExposure.FindStringSubmatch(out)
		if code != 0 || m == nil || m[1] != "foobar-app.service" {
			t.Fatalf("systemd-analyze security: exit %d, no verdict for foobar-app.service:\n%s", code, out)
		}
		exposure, _ := strconv.ParseFloat(m[2], 64)
		t.Logf("foobar-app.service: overall exposure %s %s", m[2], m[3])
		if exposure > 2.0 {
			t.Errorf("foobar-app.service: exposure %s %s, want 2.0 or less (OK); what counts:\n%s", m[2], m[3], failedChecks(out))
		}
	})
}

// upgradeSandboxedApp runs the rolling upgrade to 2.0.0 on the site of inv
// and checks that the sandboxed app on the web host restarted into the new
// release, serves, and still writes its log.
func upgradeSandboxedApp(t *testing.T, s *stackSite, inv, web string) {
	t.Helper()
	t.Run("a rolling upgrade restarts it into the new release, still logging", func(t *testing.T) {
		root, _ := testhosts.RepoRoot()
		appBin := filepath.Join(root, "bin", "foobar-app")
		r := skiff(t, "apply", "-i", inv, "playbooks/upgrade.hcl", "-e", "app_version=2.0.0", "-e", "app_binary="+appBin, "--yes")
		if r.code != 0 {
			t.Fatalf("upgrade: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		out, _ := hostExec(t, s.c, web, "readlink /opt/foobar/current; curl -s 127.0.0.1:8080/version; curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:8080/healthz")
		if got := strings.Join(strings.Fields(out), " "); got != "/opt/foobar/releases/2.0.0 2.0.0 200" {
			t.Errorf("%s after the upgrade: current, /version, /healthz = %q, want /opt/foobar/releases/2.0.0 2.0.0 200", web, got)
		}
		out, code := hostExec(t, s.c, web, "grep -F 'foobar-app 2.0.0 listening' /var/log/foobar/app.log")
		if code != 0 {
			t.Errorf("/var/log/foobar/app.log has no start line of 2.0.0: %s", out)
		}
		if out, err := s.curlSite(web); err != nil || !strings.Contains(out, "Visit number") {
			t.Errorf("the site through %s after the upgrade: %v: %s", web, err, out)
		}
	})
}
