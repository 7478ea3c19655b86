// Command sumostandin is a test stand-in for the Sumo Logic installed
// collector, installed by the sumocollector stand-in package (see debbuild)
// as /opt/SumoCollector/collector and run by the collector systemd service.
// It follows the LocalFile sources named by user.properties and POSTs new
// lines to <url>/receiver/v1/http. It is not the Sumo Logic product.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/skiffdeploy/skiff/integration/sumostandin/collector"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "collector:", err)
		os.Exit(1)
	}
}

// run parses flags and runs the collector until SIGTERM or SIGINT.
func run(args []string) error {
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	configPath := fs.String("config", collector.DefaultConfigPath, "user.properties to read")
	dataDir := fs.String("data", collector.DefaultDataDir, "folder for offsets.json")
	interval := fs.Duration("interval", time.Second, "how often new lines are sent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return collector.Run(ctx, collector.Options{
		ConfigPath: *configPath,
		DataDir:    *dataDir,
		Interval:   *interval,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
}
