package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/hostprobe"
	"github.com/skiffdeploy/skiff/internal/module/ufw"
	"github.com/skiffdeploy/skiff/internal/wire"
)

// On a host whose iptables is the nf_tables one, the probe helper tells
// whether ufw's chains are loaded without starting iptables, and says what
// iptables -n -L ufw-user-input says: with ufw enabled, disabled, and in a
// network namespace with no tables at all.
func TestUFWStatusAskedOfNFTablesWithoutIptables(t *testing.T) {
	c := startCluster(t, []string{"fw1"}, nil)
	h, err := c.Host("fw1")
	if err != nil {
		t.Fatal(err)
	}
	if out, code := hostExec(t, c, "fw1", "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-download --no-install-recommends ufw 2>&1"); code != 0 {
		t.Fatalf("installing ufw from the image's cache: exit %d\n%s", code, out)
	}
	// iptables, as the helper finds it on PATH, is a link to a stand-in
	// named xtables-nft-multi that logs each start, then runs the real one.
	setup := `set -e
mkdir -p /opt/ipt/bin /opt/ipt/real
printf '#!/bin/sh\necho "$*" >> /opt/ipt/log\nexec /usr/sbin/iptables-nft "$@"\n' > /opt/ipt/real/xtables-nft-multi
chmod 755 /opt/ipt/real/xtables-nft-multi
ln -sf /opt/ipt/real/xtables-nft-multi /opt/ipt/bin/iptables
readlink -f "$(command -v iptables-nft)"`
	if out, code := hostExec(t, c, "fw1", setup); code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "/xtables-nft-multi") {
		t.Skipf("this host's iptables is not the nf_tables one (exit %d): %s", code, out)
	}
	if out, err := exec.Command("docker", "cp", skiffBin, h.ContainerID+":/opt/ipt/skiff").CombinedOutput(); err != nil {
		t.Fatalf("docker cp: %v: %s", err, out)
	}
	_, q, _ := (&ufw.UFW{}).NativeProbe()
	raw, _ := json.Marshal(q)
	batch, _ := json.Marshal(wire.ProbeBatch{Token: "tok", Items: []wire.ProbeItem{
		{Index: 0, Sh: "echo declined", Kind: ufw.NativeFirewall, Query: raw},
	}})
	local := filepath.Join(t.TempDir(), "batch.json")
	if err := os.WriteFile(local, batch, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("docker", "cp", local, h.ContainerID+":/opt/ipt/batch.json").CombinedOutput(); err != nil {
		t.Fatalf("docker cp: %v: %s", err, out)
	}
	// One probe: what the helper answers and what iptables itself says,
	// in the same network namespace.
	probe := `PATH=/opt/ipt/bin:/usr/sbin:/usr/bin:/sbin:/bin /opt/ipt/skiff ` + hostprobe.Subcommand + ` </opt/ipt/batch.json | grep '^status=' || echo no-status
/usr/sbin/iptables-nft -n -L ufw-user-input >/dev/null 2>&1; echo "iptables=$?"`
	for _, tc := range []struct{ name, before, run string }{
		{"enabled", "ufw --force enable", "sh -c \"$probe\""},
		{"disabled", "ufw disable", "sh -c \"$probe\""},
		{"no tables", "true", "unshare -n sh -c \"$probe\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostExec(t, c, "fw1", "rm -f /opt/ipt/log")
			if out, code := hostExec(t, c, "fw1", tc.before+" 2>&1"); code != 0 {
				t.Fatalf("%s: exit %d: %s", tc.before, code, out)
			}
			out, code := hostExec(t, c, "fw1", "probe='"+strings.ReplaceAll(probe, "'", `'\''`)+"'\n"+tc.run)
			if code != 0 {
				t.Fatalf("probe: exit %d: %s", code, out)
			}
			want := map[string]string{"iptables=0": "status=Status: active", "iptables=1": "status=Status: inactive"}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || want[lines[1]] == "" || lines[0] != want[lines[1]] {
				t.Errorf("the helper's answer does not match iptables:\n%s", out)
			}
			if log, _ := hostExec(t, c, "fw1", "cat /opt/ipt/log 2>/dev/null"); log != "" {
				t.Errorf("the helper started iptables: %q", log)
			}
		})
	}
}
