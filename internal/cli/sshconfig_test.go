package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	sshtransport "github.com/skiffdeploy/skiff/internal/transport/ssh"
)

// The inventory's explicit settings win; ~/.ssh/config fills the rest, and
// its HostName resolves an alias.
func TestSSHConfigFillsWhatTheInventoryLeaves(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inv.hcl")
	os.WriteFile(inv, []byte(`
defaults { user = "deploy" }
host "db1" { address = "db1.internal" }
host "web1" {
  address = "10.0.0.5"
  port    = 2222
}
`), 0o644)
	cfg, diags := config.NewLoader().LoadInventory(inv)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	hosts := inventory.New(cfg)
	sc, err := sshtransport.ParseSSHConfig(strings.NewReader(`
Host db1.internal
  HostName 10.1.0.7
  User admin
  Port 2200
  ProxyJump deploy@10.0.0.5:22
Host *
  Port 2022
`))
	if err != nil {
		t.Fatal(err)
	}
	var db, web sshtransport.Config
	for _, c := range []struct {
		h   *inventory.Host
		out *sshtransport.Config
	}{{hosts.Host("db1"), &db}, {hosts.Host("web1"), &web}} {
		*c.out = sshtransport.Config{Address: c.h.Address, User: c.h.Conn.User, Port: c.h.Conn.Port}
		if err := withSSHConfig(c.out, c.h, sc); err != nil {
			t.Fatal(err)
		}
	}
	if db.Address != "10.1.0.7" || db.User != "deploy" || db.Port != 2200 || db.Bastion != "deploy@10.0.0.5:22" {
		t.Errorf("db1: %+v (want the alias resolved, the inventory's user, ssh_config's port and jump)", db)
	}
	if web.Port != 2222 || web.Address != "10.0.0.5" {
		t.Errorf("web1: %+v (the inventory's port must win over Host *)", web)
	}
}
