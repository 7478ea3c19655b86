package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

const recapOut = `PLAY [web] *********************************************************************

TASK [nginx : main config] *****************************************************
changed: [web1]
ok: [web2]

PLAY RECAP *********************************************************************
db1                        : ok=26   changed=0    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0   
web1                       : ok=37   changed=2    unreachable=0    failed=0    skipped=4    rescued=0    ignored=0   
web2                       : ok=37   changed=0    unreachable=0    failed=0    skipped=4    rescued=0    ignored=0   
`

func TestParseRecap(t *testing.T) {
	got, err := parseRecap(recapOut)
	if err != nil {
		t.Fatal(err)
	}
	want := []recapLine{{"db1", 26, 0, 0, 0, 3}, {"web1", 37, 2, 0, 0, 4}, {"web2", 37, 0, 0, 0, 4}}
	if len(got) != len(want) {
		t.Fatalf("parseRecap = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := parseRecap("fatal: no recap"); err == nil {
		t.Error("parseRecap accepted output without a PLAY RECAP")
	}
}

func TestCheckRecap(t *testing.T) {
	_, err := checkRecap(recapOut, []string{"db1", "web1", "web2"}, noChange)
	if err == nil || !strings.Contains(err.Error(), "web1: changed=2") || !strings.Contains(err.Error(), "TASK [nginx : main config] on web1") {
		t.Errorf("checkRecap with changes = %v, want web1's change and its task", err)
	}
	if _, err := checkRecap(recapOut, []string{"db1", "db2"}, nil); err == nil || !strings.Contains(err.Error(), "db2: not in the PLAY RECAP") {
		t.Errorf("checkRecap with a missing host = %v", err)
	}
	failed := strings.Replace(recapOut, "failed=0    skipped=3", "failed=1    skipped=3", 1)
	if _, err := checkRecap(failed, nil, nil); err == nil || !strings.Contains(err.Error(), "db1: failed=1") {
		t.Errorf("checkRecap with a failed host = %v", err)
	}
}

func TestAnsibleDriftSeen(t *testing.T) {
	diff := "TASK [nginx : main config] ***\n--- before: /etc/nginx/nginx.conf\n+++ after: /root/.ansible/tmp/nginx.conf.j2\n@@ -44,4 +44,3 @@\n }\n-# drifted by hand (bench)\n\nchanged: [web1]\n"
	if err := ansibleDriftSeen(diff + recapOut); err != nil {
		t.Errorf("drift not seen: %v", err)
	}
	if err := ansibleDriftSeen(recapOut); err == nil {
		t.Error("drift seen without a diff")
	}
	other := strings.Replace(recapOut, "changed=0    unreachable=0    failed=0    skipped=3", "changed=1    unreachable=0    failed=0    skipped=3", 1)
	if err := ansibleDriftSeen(diff + other); err == nil {
		t.Error("drift seen with a change on db1 too")
	}
}

func TestAnsibleInventory(t *testing.T) {
	c := &testhosts.Cluster{
		Hosts:          []testhosts.Host{{Name: "web2", Address: "10.0.0.3"}, {Name: "web1", Address: "10.0.0.2"}, {Name: "db1", Address: "10.0.0.4"}},
		KeyFile:        "/k/id_ed25519",
		KnownHostsFile: "/k/known_hosts",
	}
	groups := map[string][]string{"web2": {"lb", "web"}, "web1": {"web"}, "db1": {"db_primary"}}
	out, err := ansibleInventory(c, groups, map[string]any{"admin_cidrs": []string{"10.0.0.1/32"}})
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		All struct {
			Hosts    map[string]map[string]string
			Children map[string]struct{ Hosts map[string]any }
			Vars     map[string]any
		}
	}
	if err := json.Unmarshal(out, &inv); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if inv.All.Hosts["web1"]["ansible_host"] != "10.0.0.2" || len(inv.All.Children["web"].Hosts) != 2 || len(inv.All.Children["lb"].Hosts) != 1 {
		t.Errorf("inventory:\n%s", out)
	}
	if v := inv.All.Vars; v["ansible_user"] != "deploy" || v["ansible_become"] != true ||
		!strings.Contains(v["ansible_ssh_common_args"].(string), "UserKnownHostsFile=/k/known_hosts") {
		t.Errorf("connection vars: %v", v)
	}
	// Ansible keeps the file's order: web2 before web1, as in the cluster.
	if s := string(out); !strings.Contains(s, `"web2": null, "web1": null`) {
		t.Errorf("group web does not list the hosts in cluster order:\n%s", s)
	}
}
