// Command foobar-app is the foobar.com application server: it records
// visits in MySQL (MariaDB) and renders them. Writes go to the writer, the
// one database server whose read_only is off, which the app finds itself
// among all the servers it is given and follows when another one is
// promoted (see cluster); reads that may lag go to a replica.
//
//	GET /            records a visit, lists recent ones (from a replica)
//	POST /visits     records a visit: 201 {"id": N}
//	GET /visits/N    that visit as JSON, read from the writer: 200, or 404
//	GET /healthz     200 when there is a writer and it answers
//	GET /version     the release label
//
// Configuration comes from the environment (the app role writes it to an
// env file, 0600):
//
//	FOOBAR_LISTEN       address to listen on (default 127.0.0.1:8080), unless
//	                    systemd passes the listening socket (LISTEN_FDS): the
//	                    app role's foobar-app.socket holds it across restarts
//	FOOBAR_VERSION      release label printed by /version (default "dev")
//	FOOBAR_DB_HOSTS     every database server, host or host:port (default
//	                    port 3306), separated by commas
//	FOOBAR_DB_USER      the account on them (default foobar)
//	FOOBAR_DB_PASSWORD  its password
//	FOOBAR_DB_NAME      the database (default foobar)
//	FOOBAR_DB_CA        CA certificate (PEM) that signed the database servers'
//	                    certificates: when set, connections use TLS verified
//	                    for each server's address
//	FOOBAR_DB_RECHECK   how often the servers are asked which one is the
//	                    writer (default 1s)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

type app struct {
	version  string
	hostname string
	db       *cluster // nil: no database configured
}

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	a := &app{version: envOr("FOOBAR_VERSION", "dev")}
	if *showVersion {
		fmt.Println(a.version)
		return
	}
	a.hostname, _ = os.Hostname()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if list := os.Getenv("FOOBAR_DB_HOSTS"); list != "" {
		db, err := openCluster(list)
		if err != nil {
			log.Fatalf("foobar-app: FOOBAR_DB_HOSTS: %v", err)
		}
		a.db = db
		first, cancel := context.WithTimeout(ctx, 5*time.Second)
		db.recheck(first, 0)
		cancel()
		go db.run(ctx)
	}
	srv := &http.Server{
		Addr:              envOr("FOOBAR_LISTEN", "127.0.0.1:8080"),
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := listen(srv.Addr)
	if err != nil {
		log.Fatalf("foobar-app: %v", err)
	}
	log.Printf("foobar-app %s listening on %s", a.version, ln.Addr())
	go func() {
		<-ctx.Done()
		// Finish requests in flight: a restart drops none.
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("foobar-app: %v", err)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// openCluster opens a pool to each server of list, from the environment.
func openCluster(list string) (*cluster, error) {
	hosts, err := parseHosts(list)
	if err != nil {
		return nil, err
	}
	interval, err := time.ParseDuration(envOr("FOOBAR_DB_RECHECK", "1s"))
	if err != nil || interval <= 0 {
		return nil, fmt.Errorf("FOOBAR_DB_RECHECK=%q: want a duration such as 1s", os.Getenv("FOOBAR_DB_RECHECK"))
	}
	cfg := dbConfig{
		user:     envOr("FOOBAR_DB_USER", "foobar"),
		password: os.Getenv("FOOBAR_DB_PASSWORD"),
		name:     envOr("FOOBAR_DB_NAME", "foobar"),
		caFile:   os.Getenv("FOOBAR_DB_CA"),
	}
	var servers []server
	for _, h := range hosts {
		s, err := openServer(cfg, h)
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
	}
	return newCluster(servers, interval), nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, a.version)
	})
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("POST /visits", a.postVisit)
	mux.HandleFunc("GET /visits/{id}", a.getVisit)
	return mux
}

// dbError answers 503 for a database that cannot serve the request.
func dbError(w http.ResponseWriter, err error) {
	http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
}

var errNoDatabase = errors.New("not configured")

// healthz answers 200 when there is a writer and it still answers as one:
// a replica lost only makes reads go to the writer.
func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	if a.db == nil {
		dbError(w, errNoDatabase)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	writer, _, problem := a.db.current()
	if writer == nil {
		dbError(w, fmt.Errorf("%w: %s", errNoWriter, problem))
		return
	}
	ro, err := writer.ReadOnly(ctx)
	if err == nil && ro {
		err = fmt.Errorf("the writer %s turned read-only", writer.Addr())
	}
	if err != nil {
		a.db.kick()
		dbError(w, err)
		return
	}
	fmt.Fprintln(w, "ok")
}

// newVisit is a visit of the request being served.
func (a *app) newVisit(r *http.Request) visit {
	client := r.Header.Get("X-Forwarded-For")
	if client == "" {
		client, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	return visit{At: time.Now().UTC().Truncate(time.Millisecond), Client: trim(client, 64), ServedBy: trim(a.hostname, 64)}
}

// record stores the request's visit on the writer.
func (a *app) record(ctx context.Context, r *http.Request) (int64, error) {
	if a.db == nil {
		return 0, errNoDatabase
	}
	v := a.newVisit(r)
	var id int64
	err := a.db.write(ctx, func(s server) error {
		var err error
		id, err = s.Insert(ctx, v)
		return err
	})
	return id, err
}

// postVisit records a visit: 201 with its id.
func (a *app) postVisit(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	id, err := a.record(ctx, r)
	if err != nil {
		dbError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/visits/"+strconv.FormatInt(id, 10))
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]int64{"id": id})
}

// getVisit answers one visit, read from the writer (so a visit just
// posted is there): 404 when there is none with that id.
func (a *app) getVisit(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.NotFound(w, r)
		return
	}
	if a.db == nil {
		dbError(w, errNoDatabase)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	writer, err := a.db.currentWriter(ctx)
	if err != nil {
		dbError(w, err)
		return
	}
	v, err := writer.Visit(ctx, id)
	switch {
	case errors.Is(err, errNotFound):
		http.NotFound(w, r)
		return
	case err != nil:
		a.db.kick()
		dbError(w, fmt.Errorf("%s: %w", writer.Addr(), err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><title>foobar.com</title></head>
<body>
<h1>Welcome to foobar.com</h1>
<p id="count">Visit number {{.Count}}, served by {{.Host}} (version {{.Version}}).</p>
<h2>Recent visits (read from the replica)</h2>
<ul>{{range .Recent}}<li>#{{.ID}} at {{.At.Format "2006-01-02 15:04:05"}} from {{.Client}} via {{.ServedBy}}</li>{{end}}</ul>
</body></html>
`))

// index records a visit on the writer and lists recent ones from a replica.
func (a *app) index(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	count, err := a.record(ctx, r)
	if err != nil {
		dbError(w, err)
		return
	}
	var recent []visit
	if s, err := a.db.reader(ctx); err == nil {
		recent, _ = s.Recent(ctx, 10)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, map[string]any{"Count": count, "Host": a.hostname, "Version": a.version, "Recent": recent})
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
