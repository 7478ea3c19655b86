// Command brokenapp stands for a bad release of foobar-app in the rolling
// upgrade test: it starts and reports its version, but its /healthz fails.
package main

import (
	"fmt"
	"net/http"
	"os"
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
	if err := http.ListenAndServe(listen, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
