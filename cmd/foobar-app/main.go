// Command foobar-app is the foobar.com application server: it renders pages
// from MySQL (MariaDB). Each GET / records a visit on the primary (writes)
// and lists recent visits read from the replica (reads).
//
// Configuration comes from the environment (the app role writes it to an
// env file, 0600):
//
//	FOOBAR_LISTEN       address to listen on (default 127.0.0.1:8080)
//	FOOBAR_VERSION      release label printed by /version (default "dev")
//	FOOBAR_DB_PRIMARY   DSN of the primary, user:pass@tcp(host:3306)/foobar
//	FOOBAR_DB_REPLICA   DSN of the replica (default: the primary)
//	FOOBAR_DB_CA        CA certificate (PEM) that signed the database servers'
//	                    certificates: when set, connections use verified TLS
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

const schema = `CREATE TABLE IF NOT EXISTS visits (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  at DATETIME(3) NOT NULL,
  client VARCHAR(64) NOT NULL,
  served_by VARCHAR(64) NOT NULL
)`

// app holds the two database handles; either may be nil when not configured.
type app struct {
	version  string
	hostname string
	primary  *sql.DB
	replica  *sql.DB
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
	var err error
	if dsn := os.Getenv("FOOBAR_DB_PRIMARY"); dsn != "" {
		if a.primary, err = openDB("primary", dsn); err != nil {
			log.Fatalf("foobar-app: primary: %v", err)
		}
		a.replica = a.primary
		if r := os.Getenv("FOOBAR_DB_REPLICA"); r != "" {
			if a.replica, err = openDB("replica", r); err != nil {
				log.Fatalf("foobar-app: replica: %v", err)
			}
		}
	}
	srv := &http.Server{
		Addr:              envOr("FOOBAR_LISTEN", "127.0.0.1:8080"),
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		log.Fatalf("foobar-app: %v", err)
	}
	log.Printf("foobar-app %s listening on %s", a.version, srv.Addr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
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

// openDB opens a pool to one server; with FOOBAR_DB_CA the connection is
// TLS, verified against that CA for the server's address.
func openDB(name, dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("bad DSN: %w", err)
	}
	if caFile := os.Getenv("FOOBAR_DB_CA"); caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificate in it", caFile)
		}
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			host = cfg.Addr
		}
		if err := mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return nil, err
		}
		cfg.TLSConfig = name
	}
	cfg.ParseTime = true
	cfg.Timeout = 5 * time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(16)
	db.SetConnMaxLifetime(5 * time.Minute)
	return db, nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, a.version)
	})
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /{$}", a.index)
	return mux
}

// healthz answers 200 only when both databases answer.
func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	if a.primary == nil {
		http.Error(w, "database not configured", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	for name, db := range map[string]*sql.DB{"primary": a.primary, "replica": a.replica} {
		if err := db.PingContext(ctx); err != nil {
			http.Error(w, name+": "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

type visit struct {
	ID       int64
	At       time.Time
	Client   string
	ServedBy string
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

// index records a visit on the primary and lists recent ones from the replica.
func (a *app) index(w http.ResponseWriter, r *http.Request) {
	if a.primary == nil {
		http.Error(w, "database not configured", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	client := r.Header.Get("X-Forwarded-For")
	if client == "" {
		client, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	if _, err := a.primary.ExecContext(ctx, schema); err != nil {
		http.Error(w, "primary: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	res, err := a.primary.ExecContext(ctx, "INSERT INTO visits (at, client, served_by) VALUES (?, ?, ?)", time.Now().UTC(), trim(client, 64), trim(a.hostname, 64))
	if err != nil {
		http.Error(w, "primary: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	count, _ := res.LastInsertId()
	rows, err := a.replica.QueryContext(ctx, "SELECT id, at, client, served_by FROM visits ORDER BY id DESC LIMIT 10")
	var recent []visit
	if err == nil {
		for rows.Next() {
			var v visit
			if rows.Scan(&v.ID, &v.At, &v.Client, &v.ServedBy) == nil {
				recent = append(recent, v)
			}
		}
		rows.Close()
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
