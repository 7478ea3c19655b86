// Command floor is the benchmark's floor (issue 6): it reads a skiff
// inventory, connects to every host in parallel exactly as skiff does (skiff's
// own SSH transport, with the inventory's user, key, known_hosts, become and
// bastion), runs `true` once on each host and exits. A no-op `skiff apply`
// cannot be faster than this.
//
//	go run ./bench/floor -i INVENTORY
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
	"sync"
	"time"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	sshtransport "github.com/skiffdeploy/skiff/internal/transport/ssh"
)

func main() {
	invPath := flag.String("i", "", "skiff inventory file (required)")
	timeout := flag.Duration("connect-timeout", 10*time.Second, "SSH connect and handshake timeout per host")
	flag.Parse()
	if *invPath == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: floor -i INVENTORY")
		os.Exit(2)
	}
	if err := run(*invPath, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// run connects to every host of the inventory at once and runs `true` on each.
func run(invPath string, timeout time.Duration) error {
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
			errs[i] = trueOn(ctx, h, keys, timeout)
		}(i, h)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// trueOn dials h, runs `true` and closes the connection.
func trueOn(ctx context.Context, h *inventory.Host, keys *sshtransport.HostKeyStore, timeout time.Duration) error {
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
	res, err := t.Run(ctx, "true")
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s: true exited %d: %s", h.Name, res.ExitCode, res.Stderr)
	}
	return nil
}
