package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

// firstListenFd is the first file descriptor systemd passes to a
// socket-activated service (sd_listen_fds(3)).
const firstListenFd = 3

// listen returns the socket systemd passed in (socket activation:
// LISTEN_PID is this process and LISTEN_FDS is 1), else a socket of its
// own on addr. A socket from systemd outlives the process: connections
// that arrive while the app restarts wait in its backlog for the next
// process instead of being refused.
func listen(addr string) (net.Listener, error) {
	ln, err := inherited(os.Getenv, os.Getpid(), firstListenFd)
	if err != nil || ln != nil {
		return ln, err
	}
	return net.Listen("tcp", addr)
}

// inherited is the listener at file descriptor fd when getenv says systemd
// passed one to process pid; nil when it passed none. The variables are
// cleared so that no child process takes them for its own.
func inherited(getenv func(string) string, pid int, fd uintptr) (net.Listener, error) {
	if getenv("LISTEN_PID") != strconv.Itoa(pid) {
		return nil, nil
	}
	defer func() {
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			_ = os.Unsetenv(k) // fails only for an invalid name
		}
	}()
	switch n := getenv("LISTEN_FDS"); n {
	case "", "0":
		return nil, nil
	case "1":
	default:
		return nil, fmt.Errorf("systemd passed %s sockets (LISTEN_FDS), want 1: the socket unit must listen on one address", n)
	}
	f := os.NewFile(fd, "systemd socket")
	defer f.Close() // FileListener holds its own duplicate
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("the socket systemd passed (fd %d): %w", fd, err)
	}
	return ln, nil
}
