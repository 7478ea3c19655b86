package module

import (
	"fmt"
	"syscall"
	"time"
)

// StatKey is a file's digest key from its stat: device, inode, size and
// nanosecond modification and status-change times, as stat(1) prints them
// with %d:%i:%s:%.9Y:%.9Z (the hosts' digest records use the same).
func StatKey(st *syscall.Stat_t) string {
	return fmt.Sprintf("%d:%d:%d:%d.%09d:%d.%09d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

// localKey is path's KEY, and its status-change time.
func localKey(path string) (statKey, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return statKey{}, false
	}
	return statKey{key: StatKey(&st), ctime: time.Unix(st.Ctim.Sec, st.Ctim.Nsec)}, true
}
