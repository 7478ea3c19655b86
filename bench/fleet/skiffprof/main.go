// Command skiffprof is skiff with profiles, for finding where a fleet run's
// time and memory go: with SKIFF_PROFILE=DIR it writes DIR/cpu.prof for
// the whole run and DIR/heap.prof at the largest in-use heap it saw
// (checked every 50ms). Build it in place of bin/skiff, and run the bench.
package main

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/skiffdeploy/skiff/internal/cli"
)

func main() {
	dir := os.Getenv("SKIFF_PROFILE")
	if dir == "" {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	cpu, err := os.Create(filepath.Join(dir, os.Args[1]+"-cpu.prof"))
	if err != nil {
		panic(err)
	}
	_ = pprof.StartCPUProfile(cpu)
	stop := make(chan struct{})
	done := make(chan struct{})
	go watchHeap(filepath.Join(dir, os.Args[1]+"-heap.prof"), stop, done)
	code := cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	close(stop)
	<-done
	pprof.StopCPUProfile()
	cpu.Close()
	os.Exit(code)
}

// watchHeap writes a heap profile each time the in-use heap is larger
// than at the last one written.
func watchHeap(path string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var best uint64
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > best+best/20 {
			best = ms.HeapInuse
			if f, err := os.Create(path); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
