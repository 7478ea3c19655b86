package lock

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// readMachineID is the machine id of machine-id(5), "" when there is none.
func readMachineID() string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		b, err := os.ReadFile(p)
		if id := strings.TrimSpace(string(b)); err == nil && len(id) == 32 && id != strings.Repeat("0", 32) {
			return id
		}
	}
	return ""
}

// readBootID is the running kernel's random boot id, "" when unreadable.
func readBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readPIDNamespace names this process's PID namespace ("pid:[4026531836]"),
// "" when unreadable.
func readPIDNamespace() string {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return ns
}

// processStart returns when process pid started, in clock ticks after boot
// (proc(5), /proc/PID/stat field 22); running is false when there is no
// such process. Any other failure to read it is an error.
func processStart(pid int) (start uint64, running bool, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat("/proc/self/stat"); serr != nil {
			return 0, false, serr // no /proc: nothing can be told
		}
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	// The command name, field 2, is in parentheses and may hold anything:
	// the fields after it follow its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, errors.New("unexpected /proc stat layout")
	}
	f := strings.Fields(string(b[i+1:]))
	const startField = 22 - 3 // field 22, counted from field 3
	if len(f) <= startField {
		return 0, false, errors.New("unexpected /proc stat layout")
	}
	start, err = strconv.ParseUint(f[startField], 10, 64)
	if err != nil || start == 0 {
		return 0, false, errors.New("unexpected /proc stat layout")
	}
	return start, true, nil
}
