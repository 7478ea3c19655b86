package testhosts_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// TestSmoke starts two real hosts and checks what every integration test
// relies on: systemd up, key login as deploy, passwordless sudo, host keys
// verifiable from known_hosts, a parseable inventory, partition and pause.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker and root")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	began := time.Now()
	image, err := testhosts.EnsureImage(ctx, testhosts.Bookworm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s ready in %s", image, time.Since(began).Round(time.Millisecond))

	dir := t.TempDir()
	began = time.Now()
	c, err := testhosts.Start(ctx, testhosts.Options{
		Prefix: testhosts.UniquePrefix("skiff-smoke"),
		Hosts:  []string{"h1", "h2"},
		Dir:    dir,
		Logf:   t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("2 hosts started in %s", time.Since(began).Round(time.Millisecond))

	for _, h := range c.Hosts {
		client, err := c.Dial(ctx, h.Name, "deploy")
		if err != nil {
			t.Fatal(err)
		}
		state, _ := run(client, "systemctl is-system-running --wait")
		if s := strings.TrimSpace(state); s != "running" && s != "degraded" {
			t.Errorf("%s: systemctl is-system-running = %q", h.Name, s)
		}
		if out, err := run(client, "id -un"); err != nil || strings.TrimSpace(out) != "deploy" {
			t.Errorf("%s: id -un = %q, %v", h.Name, out, err)
		}
		if out, err := run(client, "sudo -n true && sudo -n id -u"); err != nil || strings.TrimSpace(out) != "0" {
			t.Errorf("%s: passwordless sudo: %q, %v", h.Name, out, err)
		}
		if out, err := run(client, "ls /var/cache/apt/archives | grep -c -E '^(nginx|haproxy|mariadb-server|ufw)_'"); err != nil || strings.TrimSpace(out) != "4" {
			t.Errorf("%s: cached .debs of nginx, haproxy, mariadb-server, ufw: %q, %v", h.Name, out, err)
		}
		_ = client.Close()

		out, code, err := c.Exec(ctx, h.Name, "hostname")
		if err != nil || code != 0 || strings.TrimSpace(out) != h.Name {
			t.Errorf("%s: docker exec hostname = %q, exit %d, %v", h.Name, out, code, err)
		}
	}

	t.Run("known_hosts", func(t *testing.T) {
		check, err := knownhosts.New(c.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		h1, h2 := c.Hosts[0], c.Hosts[1]
		// h1 answering where h2 is expected must be refused as a changed key,
		// and an address missing from known_hosts as an unknown one.
		for _, tc := range []struct {
			name, as  string
			wantKnown bool
		}{
			{"changed", h2.Address, true},
			{"unknown", "192.0.2.250", false},
		} {
			callback := func(_ string, remote net.Addr, key ssh.PublicKey) error {
				return check(net.JoinHostPort(tc.as, "22"), remote, key)
			}
			_, err := ssh.Dial("tcp", net.JoinHostPort(h1.Address, "22"), &ssh.ClientConfig{
				User:              "deploy",
				Auth:              []ssh.AuthMethod{ssh.PublicKeys(c.Signer())},
				HostKeyCallback:   callback,
				HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
				Timeout:           5 * time.Second,
			})
			var keyErr *knownhosts.KeyError
			if !errors.As(err, &keyErr) {
				t.Errorf("%s: dial err = %v, want a knownhosts.KeyError", tc.name, err)
				continue
			}
			if got := len(keyErr.Want) > 0; got != tc.wantKnown {
				t.Errorf("%s: KeyError.Want = %v", tc.name, keyErr.Want)
			}
		}
	})

	t.Run("inventory", func(t *testing.T) {
		path := filepath.Join(dir, "inventory.hcl")
		groups := map[string][]string{"h1": {"lb", "web"}, "h2": {"db_primary"}}
		if err := c.WriteInventory(path, groups, `group "web" { vars = { app_port = 8080 } }`); err != nil {
			t.Fatal(err)
		}
		f, diags := hclparse.NewParser().ParseHCLFile(path)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		hosts := 0
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			if b.Type == "host" {
				hosts++
			}
		}
		if hosts != len(c.Hosts) {
			t.Errorf("inventory has %d host blocks, want %d", hosts, len(c.Hosts))
		}
		src := string(f.Bytes)
		for _, want := range []string{`host "h1"`, `address = "` + c.Hosts[0].Address + `"`, `groups  = ["lb", "web"]`, `become      = true`} {
			if !strings.Contains(src, want) {
				t.Errorf("inventory lacks %q:\n%s", want, src)
			}
		}
		if err := c.WriteInventory(path, map[string][]string{"nope": nil}, ""); err == nil {
			t.Error("WriteInventory accepted an unknown host")
		}
	})

	t.Run("partition", func(t *testing.T) {
		if err := c.Disconnect("h2"); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		client, err := c.Dial(short, "h2", "deploy")
		cancel()
		if err == nil {
			_ = client.Close()
			t.Error("dial to a disconnected host succeeded")
		}
		if err := c.Reconnect("h2"); err != nil {
			t.Fatal(err)
		}
		client, err = c.Dial(ctx, "h2", "deploy")
		if err != nil {
			t.Fatalf("after Reconnect: %v", err)
		}
		_ = client.Close()
	})

	t.Run("pause", func(t *testing.T) {
		if err := c.Pause("h1"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Exec(ctx, "h1", "true"); err == nil {
			t.Error("exec in a paused host succeeded")
		}
		if err := c.Unpause("h1"); err != nil {
			t.Fatal(err)
		}
		if _, code, err := c.Exec(ctx, "h1", "true"); err != nil || code != 0 {
			t.Errorf("after Unpause: exit %d, %v", code, err)
		}
	})

	t.Run("stop", func(t *testing.T) {
		if err := c.Stop("h2"); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		client, err := c.Dial(short, "h2", "deploy")
		cancel()
		if err == nil {
			_ = client.Close()
			t.Error("dial to a stopped host succeeded")
		}
	})
}

// run runs cmd in a new session and returns its stdout.
func run(client *ssh.Client, cmd string) (string, error) {
	s, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	if err := s.Run(cmd); err != nil {
		return out.String(), errors.New(err.Error() + ": " + errOut.String())
	}
	return out.String(), nil
}
