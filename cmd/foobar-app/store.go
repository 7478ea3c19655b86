package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// server is one database server as the app uses it.
type server interface {
	// Addr is the server's host:port, for messages.
	Addr() string
	// ReadOnly says whether the server refuses the app's writes now.
	ReadOnly(ctx context.Context) (bool, error)
	// EnsureSchema creates the app's table when missing (writer only).
	EnsureSchema(ctx context.Context) error
	// Insert stores a visit and returns its id; a read-only server's
	// refusal wraps errReadOnly.
	Insert(ctx context.Context, v visit) (int64, error)
	// Visit reads one visit; errNotFound when there is none with that id.
	Visit(ctx context.Context, id int64) (visit, error)
	// Recent lists the newest visits, newest first.
	Recent(ctx context.Context, n int) ([]visit, error)
}

var (
	// errReadOnly: the server refused a write because it is read-only,
	// so the statement changed nothing.
	errReadOnly = errors.New("the server is read-only")
	errNotFound = errors.New("no such visit")
)

type visit struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Client   string    `json:"client"`
	ServedBy string    `json:"served_by"`
}

const schema = `CREATE TABLE IF NOT EXISTS visits (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  at DATETIME(3) NOT NULL,
  client VARCHAR(64) NOT NULL,
  served_by VARCHAR(64) NOT NULL
)`

// dbConfig is how the app reaches every database server (the servers
// themselves are listed apart: parseHosts).
type dbConfig struct {
	user     string
	password string
	name     string // the database
	caFile   string // "": no TLS
}

// parseHosts reads a list of database servers, separated by commas or
// spaces, each host or host:port (default port 3306).
func parseHosts(list string) ([]string, error) {
	var hosts []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		host, port, err := net.SplitHostPort(f)
		if err != nil {
			host, port = f, "3306"
		}
		if host == "" || strings.ContainsAny(host, "[]/@()") || port == "" {
			return nil, fmt.Errorf("%q is not a database server (host or host:port)", f)
		}
		addr := net.JoinHostPort(host, port)
		if !seen[addr] {
			seen[addr] = true
			hosts = append(hosts, addr)
		}
	}
	if len(hosts) == 0 {
		return nil, errors.New("no database server listed")
	}
	return hosts, nil
}

// sqlServer is a server reached through a connection pool of its own.
type sqlServer struct {
	addr string
	db   *sql.DB
}

// openServer opens a pool to one server; with a CA file the connection is
// TLS, verified against that CA for the server's address.
func openServer(c dbConfig, addr string) (*sqlServer, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = c.user, c.password, c.name
	cfg.Net, cfg.Addr = "tcp", addr
	cfg.ParseTime = true
	cfg.Timeout = 3 * time.Second
	if c.caFile != "" {
		pool, err := loadCA(c.caFile)
		if err != nil {
			return nil, err
		}
		host, _, _ := net.SplitHostPort(addr)
		cfg.TLS = &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(16)
	db.SetConnMaxLifetime(5 * time.Minute)
	return &sqlServer{addr: addr, db: db}, nil
}

func loadCA(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate in it", file)
	}
	return pool, nil
}

func (s *sqlServer) Addr() string { return s.addr }

func (s *sqlServer) ReadOnly(ctx context.Context) (bool, error) {
	// 0/1, or OFF/ON/NO_LOCK… where read_only is an enum (MariaDB 11).
	var v string
	if err := s.db.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&v); err != nil {
		return false, err
	}
	return v != "0" && !strings.EqualFold(v, "OFF"), nil
}

func (s *sqlServer) EnsureSchema(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, schema)
	return readOnlyError(err)
}

func (s *sqlServer) Insert(ctx context.Context, v visit) (int64, error) {
	res, err := s.db.ExecContext(ctx, "INSERT INTO visits (at, client, served_by) VALUES (?, ?, ?)", v.At, v.Client, v.ServedBy)
	if err != nil {
		return 0, readOnlyError(err)
	}
	return res.LastInsertId()
}

func (s *sqlServer) Visit(ctx context.Context, id int64) (visit, error) {
	var v visit
	err := s.db.QueryRowContext(ctx, "SELECT id, at, client, served_by FROM visits WHERE id = ?", id).Scan(&v.ID, &v.At, &v.Client, &v.ServedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return v, errNotFound
	}
	return v, err
}

func (s *sqlServer) Recent(ctx context.Context, n int) ([]visit, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, at, client, served_by FROM visits ORDER BY id DESC LIMIT ?", n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []visit
	for rows.Next() {
		var v visit
		if err := rows.Scan(&v.ID, &v.At, &v.Client, &v.ServedBy); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// readOnlyError marks the server's refusal of a write under read_only
// (ER_OPTION_PREVENTS_STATEMENT; MySQL's ER_READ_ONLY_MODE under
// super_read_only) as errReadOnly.
func readOnlyError(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == 1290 || me.Number == 1836) {
		return fmt.Errorf("%w: %v", errReadOnly, err)
	}
	return err
}
