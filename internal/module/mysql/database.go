package mysql

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Database is the "mysql_database" task kind.
//
//	task "mysql_database" "app" {
//	  name    = "foobar"
//	  charset = "utf8mb4"   # the default; a different one is ALTERed (new tables only)
//	  state   = "present"   # or "absent": DROP DATABASE
//	}
type Database struct {
	name, charset string
	absent        bool

	sql, summary string // set by Check
}

var _ module.Module = (*Database)(nil)

var charsetRE = regexp.MustCompile(`^[a-z0-9_]+$`)

// NewDatabase is the module.Factory of the "mysql_database" kind.
func NewDatabase(a *module.Args) module.Module {
	d := &Database{
		name:    a.String("name", true),
		charset: strings.ToLower(a.StringDefault("charset", "utf8mb4")),
		absent:  a.OneOf("state", "present", "present", "absent") == "absent",
	}
	a.RejectSensitive("name", "charset")
	if d.name != "" {
		if err := checkName(d.name, 64); err != nil {
			a.Errorf("name", "Database name %q: %s.", d.name, err)
			d.name = ""
		}
	}
	if d.charset != "" && !charsetRE.MatchString(d.charset) {
		a.Errorf("charset", "%q is not a character set name (such as utf8mb4).", d.charset)
		d.charset = "utf8mb4"
	}
	return d
}

// checkName validates a database or user name: printable, no line breaks,
// no trailing space, at most max characters.
func checkName(s string, max int) error {
	switch {
	case strings.ContainsAny(s, "\x00\n\r\t"):
		return fmt.Errorf("must not contain control characters")
	case strings.TrimRight(s, " ") != s:
		return fmt.Errorf("must not end with a space")
	case len([]rune(s)) > max:
		return fmt.Errorf("is longer than %d characters", max)
	}
	return nil
}

// Probe prints the server state, then "[db]" and the database's default
// character set ("" after [db] when the database does not exist).
func (d *Database) Probe() string {
	if d.name == "" {
		return ""
	}
	return probeInOneCall(d.oneCall())
}

func (d *Database) oneCall() oneCall {
	return oneCall{Section: "db", Emit: emitEnd, SQL: fmt.Sprintf(
		"SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s;", sqlString(d.name))}
}

// Check compares the database with the wanted one.
func (d *Database) Check(p module.Probed) (*module.Change, error) {
	d.sql, d.summary = "", ""
	srv, _, err := parseServer(p.Stdout, p.ExitCode)
	if err != nil {
		return nil, err
	}
	create := fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s CHARACTER SET %s;\n", ident(d.name), d.charset)
	switch {
	case srv.notRunning():
		if d.absent {
			return nil, nil // nothing to drop on a server that is not there
		}
		d.sql, d.summary = create, fmt.Sprintf("create database %s (%s)", d.name, srv.why())
		return &module.Change{Action: plan.Create, Summary: d.summary}, nil
	case srv.state == "down":
		return nil, srv.unreachable()
	}
	sec := shell.Sections(p.Stdout)
	if _, ok := sec["end"]; !ok {
		return nil, fmt.Errorf("reading database %s failed: %s", d.name, orUnknown(sqlErrors(sec["db"])))
	}
	have := strings.ToLower(strings.TrimSpace(sec["db"]))
	switch {
	case have == "" && d.absent:
		return nil, nil
	case have == "":
		d.sql, d.summary = create, fmt.Sprintf("create database %s (%s)", d.name, d.charset)
		return &module.Change{Action: plan.Create, Summary: d.summary}, nil
	case d.absent:
		d.sql, d.summary = fmt.Sprintf("DROP DATABASE %s;\n", ident(d.name)), "drop database "+d.name
		return &module.Change{Action: plan.Delete, Summary: d.summary}, nil
	case have != d.charset && !(d.charset == "utf8" && have == "utf8mb3"): // MySQL 8 and MariaDB ≥ 10.6 say utf8mb3
		d.sql = fmt.Sprintf("ALTER DATABASE %s CHARACTER SET %s;\n", ident(d.name), d.charset)
		d.summary = fmt.Sprintf("database %s: charset %s -> %s", d.name, have, d.charset)
		return &module.Change{Action: plan.Update, Summary: d.summary}, nil
	}
	return nil, nil
}

// Apply runs the statement Check chose.
func (d *Database) Apply(ctx context.Context, t transport.Transport) error {
	if d.sql == "" {
		return nil
	}
	return shell.Run(ctx, t, d.summary, runSQL(d.sql, ""), nil)
}
