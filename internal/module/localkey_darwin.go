package module

import (
	"fmt"
	"syscall"
	"time"
)

// localKey is path's KEY, and its status-change time.
func localKey(path string) (statKey, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return statKey{}, false
	}
	return statKey{
		key:   fmt.Sprintf("%d:%d:%d:%d.%09d:%d.%09d", st.Dev, st.Ino, st.Size, st.Mtimespec.Sec, st.Mtimespec.Nsec, st.Ctimespec.Sec, st.Ctimespec.Nsec),
		ctime: time.Unix(st.Ctimespec.Sec, st.Ctimespec.Nsec),
	}, true
}
