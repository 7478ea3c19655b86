package ssh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleSSHConfig = `# global first: applies to every host, and wins
User admin

Host db? !db9
    HostName %h.internal.example
    Port=2222
    ProxyJump ops@jump.example:22

Host db9
    HostName 10.9.9.9

Match host web*
    User matched

Include ~/.ssh/config.d/*

Host web1 10.0.0.*
    HostName "web1.example"
    IdentityFile ~/.ssh/web_key
    Port 2200

Host *
    Port 22
    ProxyJump none
`

func TestSSHConfigLookup(t *testing.T) {
	c, err := ParseSSHConfig(strings.NewReader(sampleSSHConfig))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		names []string
		want  SSHHostConfig
	}{
		{[]string{"db1"}, SSHHostConfig{HostName: "db1.internal.example", User: "admin", Port: 2222, ProxyJump: "ops@jump.example:22"}},
		{[]string{"DB2"}, SSHHostConfig{HostName: "DB2.internal.example", User: "admin", Port: 2222, ProxyJump: "ops@jump.example:22"}},
		{[]string{"db9"}, SSHHostConfig{HostName: "10.9.9.9", User: "admin", Port: 22}},
		{[]string{"10.0.0.7", "web7"}, SSHHostConfig{HostName: "web1.example", User: "admin", Port: 2200, IdentityFile: "~/.ssh/web_key"}},
		{[]string{"192.168.1.1", "web1"}, SSHHostConfig{HostName: "web1.example", User: "admin", Port: 2200, IdentityFile: "~/.ssh/web_key"}},
		{[]string{"db10"}, SSHHostConfig{User: "admin", Port: 22}},
	}
	for _, tc := range tests {
		got, err := c.Lookup(tc.names...)
		if err != nil || got != tc.want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", tc.names, got, err, tc.want)
		}
	}
}

func TestSSHConfigErrors(t *testing.T) {
	if _, err := ParseSSHConfig(strings.NewReader("Host a\n  Port\n")); err == nil {
		t.Error("an option without a value: no error")
	}
	c, _ := ParseSSHConfig(strings.NewReader("Host a\n Port x\nHost b\n ProxyJump j1,j2\n"))
	if _, err := c.Lookup("a"); err == nil {
		t.Error("bad port: no error")
	}
	if _, err := c.Lookup("b"); err == nil {
		t.Error("two jumps: no error")
	}
}

func TestLoadSSHConfig(t *testing.T) {
	c, err := LoadSSHConfig(filepath.Join(t.TempDir(), "absent"))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := c.Lookup("x"); h != (SSHHostConfig{}) {
		t.Errorf("missing file gives %+v", h)
	}
	p := filepath.Join(t.TempDir(), "config")
	os.WriteFile(p, []byte("Host x\n User u\n"), 0o600)
	c, err = LoadSSHConfig(p)
	if h, _ := c.Lookup("x"); err != nil || h.User != "u" {
		t.Errorf("Lookup = %+v, %v", h, err)
	}
}
