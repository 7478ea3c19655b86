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
		key:   fmt.Sprintf("%d:%d:%d:%d.%09d:%d.%09d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec),
		ctime: time.Unix(st.Ctim.Sec, st.Ctim.Nsec),
	}, true
}
