//go:build !linux

package lock

import "errors"

// Elsewhere than Linux, skiff does not read process start times, so no
// lock is taken over as a dead run's before its TTL (see DeadHere).

func readMachineID() string    { return "" }
func readBootID() string       { return "" }
func readPIDNamespace() string { return "" }

func processStart(int) (uint64, bool, error) {
	return 0, false, errors.New("process start times are read on Linux only")
}
