// Command brokenapp stands for a bad release of foobar-app in the rolling
// upgrade test: it starts (on the socket systemd passes, as foobar-app
// does) and reports its version, but its /healthz fails.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	version := os.Getenv("FOOBAR_VERSION")
	listen := os.Getenv("FOOBAR_LISTEN")
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, version) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken release", http.StatusInternalServerError)
	})
	var ln net.Listener
	var err error
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) && os.Getenv("LISTEN_FDS") == "1" {
		ln, err = net.FileListener(os.NewFile(3, "systemd socket"))
	} else {
		ln, err = net.Listen("tcp", listen)
	}
	if err == nil {
		err = http.Serve(ln, mux)
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
