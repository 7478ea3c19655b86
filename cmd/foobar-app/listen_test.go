package main

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// environ is a fake environment for inherited.
func environ(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// A socket passed by systemd serves the app; what the app closes is its
// own copy, so the socket keeps listening for the next process.
func TestInheritedSocketServes(t *testing.T) {
	// The socket as systemd holds it: a plain descriptor, listening.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 16); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/version", sa.(*syscall.SockaddrInet4).Port)
	client := &http.Client{Timeout: 10 * time.Second}
	for i, version := range []string{"1.0.0", "2.0.0"} {
		// Each process gets its own copy of the descriptor, as from fork.
		own, err := syscall.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := inherited(environ(map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "1"}), 42, uintptr(own))
		if err != nil || ln == nil {
			t.Fatalf("process %d: inherited = %v, %v", i+1, ln, err)
		}
		srv := &http.Server{Handler: (&app{version: version}).routes()}
		go srv.Serve(ln)
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("process %d: %v", i+1, err)
		}
		var got string
		fmt.Fscan(resp.Body, &got)
		resp.Body.Close()
		if got != version {
			t.Errorf("process %d answered %q, want %q", i+1, got, version)
		}
		srv.Close() // the process ends; systemd's copy stays open
	}
}

func TestInheritedOnlyForThisProcess(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"no variables":        {},
		"another process's":   {"LISTEN_PID": "41", "LISTEN_FDS": "1"},
		"no socket passed":    {"LISTEN_PID": "42", "LISTEN_FDS": "0"},
		"no count of sockets": {"LISTEN_PID": "42"},
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := inherited(environ(env), 42, 1<<20)
			if ln != nil || err != nil {
				t.Errorf("inherited = %v, %v; want nothing", ln, err)
			}
		})
	}
	_, err := inherited(environ(map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "2"}), 42, 1<<20)
	if err == nil || !strings.Contains(err.Error(), "LISTEN_FDS") {
		t.Errorf("two sockets: err = %v", err)
	}
}
