package lock

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
)

// Self returns what identifies this process in a lock: its PID, Machine,
// PIDSpace and PIDStart, each left empty when it cannot be read (then no
// other run takes this lock over before its TTL: see DeadHere).
func Self() Info {
	i := Info{PID: os.Getpid()}
	boot := readBootID()
	id := readMachineID()
	if id == "" && boot != "" {
		// No machine id (a bare container): the kernel's boot id stands
		// in. It changes at reboot, which only means that a lock of an
		// earlier boot waits for its TTL.
		id = "boot " + boot
	}
	if id != "" {
		i.Machine = digest("machine", id)
	}
	ns := readPIDNamespace()
	if start, ok, err := processStart(i.PID); err == nil && ok && boot != "" && ns != "" {
		i.PIDSpace = digest("pid space", boot+"\n"+ns)
		i.PIDStart = start
	}
	return i
}

// DeadHere reports whether holder is certainly a skiff process of self's
// machine that no longer runs, so that self may take its lock over before
// the TTL: the same owner (user@host), machine and PID space (boot and PID
// namespace), and its PID is free or now names a process that started at
// another time. It is false whenever that is not certain: a lock of another
// machine, or of a container of this one; a system where the process start
// cannot be read; a lock written by an older skiff, which recorded neither.
func DeadHere(holder, self Info) bool {
	if holder.Owner != self.Owner || holder.PID <= 0 || holder.PIDStart == 0 ||
		holder.Machine == "" || holder.Machine != self.Machine ||
		holder.PIDSpace == "" || holder.PIDSpace != self.PIDSpace {
		return false
	}
	start, running, err := processStart(holder.PID)
	if err != nil {
		return false
	}
	return !running || start != holder.PIDStart
}

// digest names an identifier without showing it: machine-id(5) asks that
// a machine id not be shown as it is.
func digest(kind, id string) string {
	sum := sha256.Sum256([]byte("skiff deploy lock " + kind + "\n" + id))
	return hex.EncodeToString(sum[:16])
}
