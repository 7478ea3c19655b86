// Command testhosts runs the demo site's test hosts (web1 web2 db1 db2) as
// local containers, for `make demo` and `make demo-down`.
//
//	testhosts up     start fresh hosts, write .skiff-demo/ (inventory, key,
//	                 known_hosts, secrets, the collector stand-in .deb)
//	testhosts demo   up, then deploy the whole foobar.com site to them with
//	                 bin/skiff and fetch https://www.foobar.com/ through HAProxy
//	testhosts down   remove the hosts and .skiff-demo/
//
// Run it from the repository (it finds the root by go.mod); it needs root
// and a Docker engine.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/skiffdeploy/skiff/integration/testhosts"
)

const (
	prefix   = "skiff-demo"
	stateDir = ".skiff-demo"
	playbook = "playbooks/site.hcl"
)

func main() {
	if len(os.Args) != 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := testhosts.RepoRoot()
	if err != nil {
		fail(err)
	}
	switch os.Args[1] {
	case "up":
		_, err = up(ctx, root)
	case "down":
		err = down(ctx, root)
	case "demo":
		err = demo(ctx, root)
	default:
		usage()
	}
	if err != nil {
		fail(err)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testhosts up|demo|down")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "testhosts:", err)
	os.Exit(1)
}

// up replaces any earlier demo hosts with fresh ones and writes the
// inventory, key and known_hosts into .skiff-demo/.
func up(ctx context.Context, root string) (*testhosts.Cluster, error) {
	dir := filepath.Join(root, stateDir)
	// State of a previous demo (skiff's .skiff/ runs and lock) describes
	// hosts that no longer exist.
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	names, groups := testhosts.SiteHosts()
	c, err := testhosts.Start(ctx, testhosts.Options{
		Prefix: prefix,
		Hosts:  names,
		Dir:    dir,
		Keep:   true,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		},
	})
	if err != nil {
		return nil, err
	}
	extra, err := c.SiteSettings(ctx, root, dir, "")
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	inventory := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inventory, groups, extra); err != nil {
		_ = c.Close()
		return nil, err
	}

	fmt.Printf("\nDemo hosts (containers %s-*):\n", prefix)
	for _, h := range c.Hosts {
		fmt.Printf("  %-5s %-15s groups %s\n", h.Name, h.Address, strings.Join(groups[h.Name], ","))
	}
	fmt.Printf("\nInventory: %s\n", rel(root, inventory))
	fmt.Printf("Log in:    ssh -i %s -o UserKnownHostsFile=%s deploy@%s\n",
		rel(root, c.KeyFile), rel(root, c.KnownHostsFile), c.Hosts[0].Address)
	fmt.Printf("Remove:    make demo-down\n")
	return c, nil
}

// down removes the demo hosts and .skiff-demo/.
func down(ctx context.Context, root string) error {
	if err := testhosts.Down(ctx, prefix); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(root, stateDir)); err != nil {
		return err
	}
	fmt.Println("demo hosts removed")
	return nil
}

// demo starts the hosts, deploys to them and shows the result. The hosts
// stay up for a look around; `make demo-down` removes them.
func demo(ctx context.Context, root string) error {
	c, err := up(ctx, root)
	if err != nil {
		return err
	}
	inventory := filepath.Join(root, stateDir, "inventory.hcl")
	if err := deployDemo(ctx, root, inventory); err != nil {
		return err
	}
	web1, err := c.Host("web1")
	if err != nil {
		return err
	}
	return showSite(ctx, root, filepath.Join(root, stateDir, ".skiff", "pki", "ca.crt"), web1.Address)
}

// showSite fetches https://www.foobar.com/ through HAProxy on lb, trusting
// only skiff's CA, retrying while health checks bring the servers up.
func showSite(ctx context.Context, root, caFile, lb string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, net.JoinHostPort(lb, "443"))
		},
	}}
	const url = "https://www.foobar.com/"
	var last error
	for attempt := 0; attempt < 30; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			last = fmt.Errorf("HTTP %d", resp.StatusCode)
			continue
		}
		fmt.Printf("\n%s through HAProxy on %s (HTTP %d):\n%s\n", url, lb, resp.StatusCode, firstLines(string(body), 15))
		fmt.Printf("\nThe site answers over HTTPS. Try:\n  curl --cacert %s --resolve www.foobar.com:443:%s %s\n", rel(root, caFile), lb, url)
		return nil
	}
	return errors.Join(fmt.Errorf("GET %s through %s failed", url, lb), last)
}

// deployDemo is the demo's deploy step: skiff applies the demo playbook to
// the demo inventory, without asking.
func deployDemo(ctx context.Context, root, inventory string) error {
	skiff := filepath.Join(root, "bin", "skiff")
	if _, err := os.Stat(skiff); err != nil {
		return fmt.Errorf("%s missing: run make build first", rel(root, skiff))
	}
	args := []string{"apply", "-i", rel(root, inventory), playbook, "--yes"}
	fmt.Printf("\n$ bin/skiff %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, skiff, args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bin/skiff apply: %w", err)
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

// rel shortens path for display, relative to the repository root.
func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
