package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
)

func loadSrc(t *testing.T, src string) (*config.Inventory, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "inv.hcl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.NewLoader().LoadInventory(p)
	if len(diags) == 0 {
		return cfg, ""
	}
	return cfg, diags.Error()
}

func TestKeepRunsLayersLikeTheOtherHostSettings(t *testing.T) {
	cfg, diags := loadSrc(t, `
defaults { keep_runs = 5 }
group "db" { keep_runs = 30 }
host "web1" { address = "10.0.0.1" }
host "db1" {
  address = "10.0.0.2"
  groups  = ["db"]
}
host "db2" {
  address   = "10.0.0.3"
  groups    = ["db"]
  keep_runs = 2
}
`)
	if diags != "" {
		t.Fatal(diags)
	}
	inv := New(cfg)
	for host, want := range map[string]int{"web1": 5, "db1": 30, "db2": 2} {
		if got := inv.Host(host).Conn.KeepRuns; got != want {
			t.Errorf("%s keeps %d runs, want %d", host, got, want)
		}
	}

	cfg, _ = loadSrc(t, `host "web1" { address = "10.0.0.1" }`)
	if got := New(cfg).Host("web1").Conn.KeepRuns; got != 10 {
		t.Errorf("without keep_runs a host keeps %d runs, want 10", got)
	}
}

func TestKeepRunsBelowOneIsRefused(t *testing.T) {
	for _, v := range []string{"0", "-3"} {
		_, diags := loadSrc(t, "defaults { keep_runs = "+v+" }\nhost \"web1\" { address = \"10.0.0.1\" }\n")
		if !strings.Contains(diags, "inv.hcl:1,24") || !strings.Contains(diags, "Invalid keep_runs") || !strings.Contains(diags, "1 or more") {
			t.Errorf("keep_runs = %s: diagnostics %q", v, diags)
		}
	}
	_, diags := loadSrc(t, "defaults { keep_runs = \"many\" }\nhost \"web1\" { address = \"10.0.0.1\" }\n")
	if !strings.Contains(diags, "keep_runs") {
		t.Errorf("keep_runs = \"many\": diagnostics %q", diags)
	}
}
