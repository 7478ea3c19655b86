// Command floor is the benchmark's floor (issue 6): it reads a skiff
// inventory, connects to every host in parallel exactly as skiff does (skiff's
// own SSH transport, with the inventory's user, key, known_hosts, become and
// bastion), runs `true` once on each host and exits. A no-op `skiff apply`
// cannot be faster than this.
//
//	go run ./bench/floor -i INVENTORY
//
// With -upload and -run it is the floor of a first converge instead: on
// each host, the files copied (over SFTP, one after another), then one
// script run as root: a plain script doing the same work with no checks.
//
//	floor -i INV -upload web=./app:/tmp/app -run 'all=apt-get install -y ufw'
//
// It exits 1 if any host cannot be reached or `true` fails on it. Unlike
// skiff it does not read ~/.ssh/config: the benchmark's inventories set
// every connection field.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	sshtransport "github.com/skiffdeploy/skiff/internal/transport/ssh"
)

func main() {
	invPath := flag.String("i", "", "skiff inventory file (required)")
	timeout := flag.Duration("connect-timeout", 10*time.Second, "SSH connect and handshake timeout per host")
	var w work
	flag.Func("upload", "GROUP=LOCAL:REMOTE: copy LOCAL to REMOTE (mode 0755) on the hosts of GROUP (all: every host) first; repeatable", func(v string) error {
		group, rest, ok := strings.Cut(v, "=")
		local, remote, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 || group == "" || local == "" || remote == "" {
			return errors.New("want GROUP=LOCAL:REMOTE")
		}
		w.uploads = append(w.uploads, upload{group, local, remote})
		return nil
	})
	flag.Func("run", "GROUP=SCRIPT: run SCRIPT as root on the hosts of GROUP instead of true; repeatable, one script per host in the order given", func(v string) error {
		group, script, ok := strings.Cut(v, "=")
		if !ok || group == "" || script == "" {
			return errors.New("want GROUP=SCRIPT")
		}
		w.scripts = append(w.scripts, [2]string{group, script})
		return nil
	})
	flag.Parse()
	if *invPath == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: floor -i INVENTORY [-upload GROUP=LOCAL:REMOTE]... [-run GROUP=SCRIPT]...")
		os.Exit(2)
	}
	if err := run(*invPath, *timeout, w); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// work is what the floor does on each host: by default, `true`.
type work struct {
	uploads []upload
	scripts [][2]string // group, script
}

type upload struct{ group, local, remote string }

// script is the one script for a host in groups: its -run scripts joined,
// stopping at the first that fails; `true` when there is none.
func (w work) script(groups []string) string {
	var parts []string
	for _, s := range w.scripts {
		if slices.Contains(groups, s[0]) {
			parts = append(parts, s[1])
		}
	}
	if len(parts) == 0 {
		return "true"
	}
	return "set -e\n" + strings.Join(parts, "\n")
}

// run connects to every host of the inventory at once and does w on each.
func run(invPath string, timeout time.Duration, w work) error {
	cfg, diags := config.NewLoader().LoadInventory(invPath)
	if diags.HasErrors() {
		return fmt.Errorf("%s: %s", invPath, diags.Error())
	}
	inv := inventory.New(cfg)
	if len(inv.Hosts) == 0 {
		return fmt.Errorf("%s: no hosts", invPath)
	}
	ctx := context.Background()
	keys := sshtransport.NewHostKeyStore() // shared, as skiff shares it
	errs := make([]error, len(inv.Hosts))
	var wg sync.WaitGroup
	for i, h := range inv.Hosts {
		wg.Add(1)
		go func(i int, h *inventory.Host) {
			defer wg.Done()
			errs[i] = workOn(ctx, h, keys, timeout, w)
		}(i, h)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// workOn dials h, copies w's files, runs its script and closes the
// connection.
func workOn(ctx context.Context, h *inventory.Host, keys *sshtransport.HostKeyStore, timeout time.Duration, w work) error {
	t, err := sshtransport.Dial(ctx, sshtransport.Config{
		Host:           h.Name,
		Address:        h.Address,
		Port:           h.Conn.Port,
		User:           h.Conn.User,
		PrivateKey:     h.Conn.PrivateKey,
		KnownHosts:     h.Conn.KnownHosts,
		HostKeys:       keys,
		Become:         h.Conn.Become,
		Bastion:        h.Conn.Bastion,
		ConnectTimeout: timeout,
	})
	if err != nil {
		return err
	}
	defer t.Close()
	for _, u := range w.uploads {
		if !slices.Contains(h.Groups, u.group) {
			continue
		}
		f, err := os.Open(u.local)
		if err != nil {
			return err
		}
		err = t.WriteFile(ctx, u.remote, f, 0o755)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: copying %s: %w", h.Name, u.local, err)
		}
	}
	res, err := t.Run(ctx, w.script(h.Groups))
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s: the script exited %d: %s", h.Name, res.ExitCode, res.Stderr)
	}
	return nil
}
