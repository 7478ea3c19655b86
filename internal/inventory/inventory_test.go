package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
)

const invSrc = `
defaults {
  user = "deploy"
  private_key = "keys/id"
  vars = { tier = "default", port = 1 }
}
group "web" {
  port = 2222
  vars = { tier = "web" }
}
group "lb" {
  vars = { tier = "lb", lb_only = true }
}
host "web1" {
  address = "10.0.0.1"
  groups  = ["web", "lb"]
}
host "web2" {
  address = "10.0.0.2"
  groups  = ["web"]
  user    = "admin"
  vars    = { tier = "own" }
}
host "db1" {
  address = "10.0.0.3"
  groups  = ["db_primary"]
}
`

func load(t *testing.T) *Inventory {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "inv.hcl")
	if err := os.WriteFile(p, []byte(invSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.NewLoader().LoadInventory(p)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return New(cfg)
}

func TestPrecedence(t *testing.T) {
	inv := load(t)
	web1, web2, db1 := inv.Host("web1"), inv.Host("web2"), inv.Host("db1")
	// Group blocks apply in file order: lb comes after web, so lb wins for web1.
	if got := web1.Vars["tier"].AsString(); got != "lb" {
		t.Errorf("web1 tier = %q, want lb", got)
	}
	if got := web2.Vars["tier"].AsString(); got != "own" {
		t.Errorf("web2 tier = %q, want own (host beats group)", got)
	}
	if got := db1.Vars["tier"].AsString(); got != "default" {
		t.Errorf("db1 tier = %q, want default", got)
	}
	if web1.Conn.Port != 2222 || db1.Conn.Port != 22 {
		t.Errorf("ports = %d, %d; want 2222 (group), 22 (default)", web1.Conn.Port, db1.Conn.Port)
	}
	if web2.Conn.User != "admin" || web1.Conn.User != "deploy" {
		t.Errorf("users = %q, %q", web2.Conn.User, web1.Conn.User)
	}
	if !filepath.IsAbs(web1.Conn.PrivateKey) || !strings.HasSuffix(web1.Conn.PrivateKey, "keys/id") {
		t.Errorf("private key %q not resolved against the inventory folder", web1.Conn.PrivateKey)
	}
	if got := strings.Join(web1.Groups, ","); got != "web,lb,all" {
		t.Errorf("web1 groups = %s", got)
	}
}

func TestSelect(t *testing.T) {
	inv := load(t)
	cases := []struct {
		pattern string
		want    string
		err     bool
	}{
		{"all", "web1,web2,db1", false},
		{"web", "web1,web2", false},
		{"web,!web2", "web1", false},
		{"!web", "db1", false},
		{"db1,lb", "web1,db1", false},
		{"web*", "web1,web2", false},
		{"nosuch", "", true},
		{"web,!typo", "", true},
	}
	for _, c := range cases {
		hosts, err := inv.Select(c.pattern)
		if (err != nil) != c.err {
			t.Errorf("Select(%q) err = %v, want error %v", c.pattern, err, c.err)
			continue
		}
		var names []string
		for _, h := range hosts {
			names = append(names, h.Name)
		}
		if got := strings.Join(names, ","); got != c.want {
			t.Errorf("Select(%q) = %s, want %s", c.pattern, got, c.want)
		}
	}
}
