package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func samplePlan() *Plan {
	p := &Plan{RunID: "20261126T120000-abcdef", Mode: "plan", Hosts: []*Host{
		{Name: "web1", Address: "10.0.0.2", Tasks: 9, Changes: []Change{
			{Play: "web", Role: "nginx", Task: "template.site", Action: Update, Summary: "update /etc/nginx/sites-enabled/foobar.conf",
				Diff: "--- /etc/nginx/sites-enabled/foobar.conf (on host)\n+++ /etc/nginx/sites-enabled/foobar.conf (wanted)\n@@ -1,2 +1,2 @@\n server {\n-    listen 80;\n+    listen 8443 ssl;\n"},
			{Play: "web", Role: "app", Task: "file.env", Action: Create, Summary: "create /etc/foobar/env", Sensitive: true},
			{Play: "web", Role: "nginx", Task: "handler.reload_nginx", Action: Run, Summary: "reload nginx"},
		}},
		{Name: "web2", Address: "10.0.0.3", Tasks: 9},
		{Name: "db1", Address: "10.0.0.4", Status: StatusUnreachable, Error: "db1: unreachable: dial tcp 10.0.0.4:22: connect: connection refused"},
	}}
	p.Finish()
	return p
}

func TestWriteTextGolden(t *testing.T) {
	var buf bytes.Buffer
	p := samplePlan()
	WriteText(&buf, p)
	WriteRecap(&buf, p)
	golden := filepath.Join("testdata", "plan.txt")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("plan text differs from %s:\n%s", golden, buf.String())
	}
}

func TestSummaryCountsHosts(t *testing.T) {
	p := samplePlan()
	if p.Summary != (Summary{OK: 1, Changed: 1, Unreachable: 1}) {
		t.Errorf("summary = %+v", p.Summary)
	}
	if !p.Failed() || !p.HasChanges() {
		t.Errorf("Failed=%v HasChanges=%v", p.Failed(), p.HasChanges())
	}
}

func TestCompareSavedPlan(t *testing.T) {
	saved := samplePlan()
	same := samplePlan()
	if m := Compare(saved, same); len(m) != 0 {
		t.Fatalf("identical plans differ: %v", m)
	}
	drifted := samplePlan()
	drifted.Hosts[0].Changes[0].Diff += "+    extra line\n"
	drifted.Hosts[1].Changes = []Change{{Play: "web", Role: "nginx", Task: "file.cert", Action: Update, Summary: "update cert"}}
	m := Compare(saved, drifted)
	if len(m) != 2 || len(m["web1"]) != 1 || m["web1"][0].Task != "web/nginx template.site" {
		t.Fatalf("mismatches = %v", m)
	}
	if got := m["web2"][0].String(); got != "web/nginx file.cert: planned no change, now update (update cert)" {
		t.Errorf("web2: %s", got)
	}
	if _, ok := m["db1"]; ok {
		t.Errorf("db1 unchanged (unreachable in both) but reported")
	}
}
