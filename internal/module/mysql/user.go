package mysql

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/secret"
)

// User is the "mysql_user" task kind: accounts, their passwords and their
// privileges.
//
//	task "mysql_user" "app" {
//	  name       = "foobar"
//	  hosts      = [for h in groups.web : h.address]  # or: host = "%" (the default)
//	  password   = secret.app_db_password
//	  privileges = ["foobar.*:ALL"]                   # "db.table:PRIV,PRIV"
//	  require    = "ssl"                              # or "x509", "none"
//	  state      = "present"                          # or "absent"
//	}
//
// There is one account per host. With hosts (a list) the accounts of that
// name on other hosts are dropped: the user can connect from those hosts
// only. With host, other accounts of the name are left alone.
//
// The password is checked without sending it: the probe reads the stored
// mysql_native_password hash, Check compares it with the hash computed
// locally (NativePasswordHash). Accounts are created, or their password
// reset, with mysql_native_password (MySQL 8: IDENTIFIED WITH
// mysql_native_password), so that the check holds. The password travels only
// inside the SQL on the client's stdin; it and its hash never appear in a
// summary, a diff or an error.
//
// privileges, when given, are exactly the account's table-level privileges:
// missing ones are granted, others revoked ("USAGE" grants nothing; "ALL" is
// ALL PRIVILEGES; "GRANT OPTION" may be listed). Column, routine, proxy and
// role grants are left alone. Left out, privileges are not managed.
// root@localhost, through which skiff reaches the server, is refused, and
// never dropped as a host not listed.
//
// require, when given, is what the accounts demand of a client's
// connection (REQUIRE): "ssl" refuses a connection without TLS, "x509"
// also wants a client certificate signed by the server's CA, "none" asks
// for nothing. The probe reads it from mysql.user's ssl_type; a different
// one (issuer, subject or cipher conditions included) is replaced. Left
// out, it is not managed.
type User struct {
	name      string
	hosts     []string
	exclusive bool // hosts was a list: other hosts' accounts are dropped
	password  string
	want      []declaredGrant
	privs     bool // privileges are managed
	absent    bool
	binlog    bool     // false: the statements are not written to the binary log
	require   string   // "" (not managed), "ssl", "x509" or "none"
	secrets   []string // scrubbed from errors: password, its SQL form, its hash

	// set by Check
	sql, summary string
	pending      bool // the server was not running: nothing to apply yet
}

var _ module.Module = (*User)(nil)

// NewUser is the module.Factory of the "mysql_user" kind.
func NewUser(a *module.Args) module.Module {
	u := &User{
		name:   a.String("name", true),
		absent: a.OneOf("state", "present", "present", "absent") == "absent",
		// binlog = false keeps a replica's own accounts out of its binary
		// log, so they never reach another server through replication.
		binlog: a.Bool("binlog", true),
	}
	if a.Has("require") {
		u.require = a.OneOf("require", "", "ssl", "x509", "none")
	}
	a.RejectSensitive("name", "host", "hosts", "privileges", "require", "state")
	if u.name != "" {
		if err := checkName(u.name, 80); err != nil {
			a.Errorf("name", "User name %q: %s.", u.name, err)
			u.name = ""
		}
	}
	hasHost, hasHosts := a.Has("host"), a.Has("hosts")
	switch {
	case hasHost && hasHosts:
		a.Errorf("hosts", "Give either host or hosts, not both.")
	case hasHosts:
		u.hosts, u.exclusive = a.StringList("hosts"), true
		if len(u.hosts) == 0 && !a.Unknown("hosts") {
			a.Errorf("hosts", "hosts must not be empty: drop the user with state = \"absent\".")
		}
	default:
		if h := a.StringDefault("host", "%"); h != "" || !a.Unknown("host") {
			u.hosts = []string{h}
		}
	}
	seen := map[string]bool{}
	for _, h := range u.hosts {
		arg := "host"
		if hasHosts {
			arg = "hosts"
		}
		switch err := checkName(h, 255); {
		case h == "":
			a.Errorf(arg, "A host must not be empty (\"%%\" is any host).")
		case err != nil:
			a.Errorf(arg, "Host %q: %s.", h, err)
		case seen[strings.ToLower(h)]:
			a.Errorf(arg, "Host %q is listed twice.", h)
		case u.name == "root" && strings.EqualFold(h, "localhost"):
			a.Errorf("name", "root@localhost is how skiff reaches the server (unix socket): mysql_user does not manage it.")
		}
		seen[strings.ToLower(h)] = true
	}

	u.password = a.String("password", false)
	if !a.Has("password") && !u.absent {
		a.Errorf("password", "A present user needs a password (from a secret: secret.NAME).")
	}
	if !u.absent && a.Has("password") && !a.Unknown("password") && u.password == "" {
		a.Errorf("password", "password must not be empty.")
	}
	if u.absent && a.Has("password") && !a.Unknown("password") {
		a.Errorf("password", "password goes with state = \"present\" only.")
	}
	u.secrets = a.SecretStrings("password")
	if u.password != "" {
		u.secrets = append(u.secrets, u.password, sqlEscaper.Replace(u.password), NativePasswordHash(u.password))
	}

	if a.Has("privileges") {
		u.privs = !a.Unknown("privileges")
		objs := map[object]bool{}
		for _, p := range a.StringList("privileges") {
			g, err := parseDeclared(p)
			if err != nil {
				a.Errorf("privileges", "%s.", err)
				continue
			}
			if objs[g.obj] {
				a.Errorf("privileges", "%s is listed twice: give all its privileges in one entry.", g.obj)
			}
			objs[g.obj] = true
			u.want = append(u.want, g)
		}
		if u.absent {
			a.Errorf("privileges", "privileges go with state = \"present\" only.")
		}
	}
	if u.absent && u.require != "" {
		a.Errorf("require", "require goes with state = \"present\" only.")
	}
	return u
}

// Probe prints the server state, then under [user]: one "acct HOST PLUGIN
// SSL_TYPE HASH" line (tab-separated; the hash last, whatever it holds) per
// account of the name, and the SHOW GRANTS lines of the declared accounts
// (their IDENTIFIED part cut off). The client runs with --force: SHOW
// GRANTS fails (ERROR 1141) for an account that does not exist yet.
func (u *User) Probe() string {
	if u.name == "" || len(u.hosts) == 0 {
		return ""
	}
	return probeInOneCall(u.oneCall())
}

func (u *User) oneCall() oneCall {
	var sql strings.Builder
	fmt.Fprintf(&sql, "SELECT CONCAT('acct', CHAR(9), Host, CHAR(9), IFNULL(plugin, ''), CHAR(9), IFNULL(ssl_type, ''), CHAR(9), IFNULL(authentication_string, '')) FROM mysql.user WHERE User = %s;\n", sqlString(u.name))
	for _, h := range u.hosts {
		fmt.Fprintf(&sql, "SHOW GRANTS FOR %s;\n", account(u.name, h))
	}
	sql.WriteString("SELECT '[end]';\n")
	return oneCall{Section: "user", Force: true, SQL: sql.String(), Emit: emitGrants}
}

// acct is an existing account as probed.
type acct struct {
	host, plugin, hash string // host as stored
	sslType            string // mysql.user's: "", "ANY", "X509" or "SPECIFIED"
	grants             grantMap
}

// parseAccounts reads the [user] and [end] sections (the client's errors,
// on stderr, may come after the [end] line).
func (u *User) parseAccounts(sec map[string]string, srv server) (map[string]*acct, error) {
	if _, ok := sec["end"]; !ok {
		return nil, fmt.Errorf("reading MySQL user %s was cut short", u.name)
	}
	accts := map[string]*acct{}
	var lines []grantLine
	for line := range strings.SplitSeq(sec["user"]+sec["end"], "\n") {
		switch {
		case strings.HasPrefix(line, "acct\t"):
			f := strings.SplitN(line, "\t", 5)
			if len(f) == 5 {
				accts[strings.ToLower(f[1])] = &acct{host: f[1], plugin: f[2], sslType: f[3], hash: f[4], grants: grantMap{}}
			}
		case strings.HasPrefix(line, "GRANT "):
			g, ok, err := parseGrantLine(line)
			if err != nil {
				return nil, err
			}
			if ok && g.user == u.name {
				lines = append(lines, g)
			}
		case strings.HasPrefix(line, "ERROR 1141"): // no such grant: the account is missing
		case strings.HasPrefix(line, "ERROR"):
			return nil, fmt.Errorf("reading MySQL user %s failed: %s", u.name, shell.Scrub(line, u.secrets))
		}
	}
	for _, g := range lines {
		if a := accts[strings.ToLower(g.host)]; a != nil {
			for _, p := range g.privs {
				a.grants.add(g.obj, srv.canon(p))
			}
		}
	}
	return accts, nil
}

// unlisted are the hosts of u.name's accounts that the task does not list,
// sorted; root@localhost, skiff's own way in, is never among them.
func (u *User) unlisted(accts map[string]*acct) []string {
	var extra []string
	for _, a := range accts {
		if u.name == "root" && strings.EqualFold(a.host, "localhost") {
			continue
		}
		if !slices.ContainsFunc(u.hosts, func(w string) bool { return strings.EqualFold(w, a.host) }) {
			extra = append(extra, a.host)
		}
	}
	sort.Strings(extra)
	return extra
}

// Check compares the accounts with the wanted ones.
func (u *User) Check(p module.Probed) (*module.Change, error) {
	u.sql, u.summary, u.pending = "", "", false
	srv, _, err := parseServer(p.Stdout, p.ExitCode)
	if err != nil {
		return nil, err
	}
	switch {
	case srv.notRunning():
		if u.absent {
			return nil, nil
		}
		u.pending = true
		u.summary = fmt.Sprintf("create user %s (%s)", u.accountList(u.hosts), srv.why())
		return &module.Change{Action: plan.Create, Summary: u.summary}, nil
	case srv.state == "down":
		return nil, srv.unreachable()
	}
	accts, err := u.parseAccounts(shell.Sections(p.Stdout), srv)
	if err != nil {
		return nil, err
	}

	want := grantMap{}
	for _, g := range u.want {
		for _, pr := range g.privs {
			want.add(g.obj, srv.canon(pr))
		}
	}
	identified := "IDENTIFIED BY " + sqlString(u.password)
	if !srv.mariadb() {
		identified = "IDENTIFIED WITH mysql_native_password BY " + sqlString(u.password)
	}

	var sql strings.Builder
	var parts, diff []string
	creates, drops := 0, 0
	note := func(line string) { diff = append(diff, line) }
	if u.absent {
		for _, h := range u.hosts {
			if accts[strings.ToLower(h)] != nil {
				fmt.Fprintf(&sql, "DROP USER IF EXISTS %s;\n", account(u.name, h))
				parts = append(parts, "drop user "+u.name+"@"+h)
				note("- user " + u.name + "@" + h)
				drops++
			}
		}
	} else {
		for _, h := range u.hosts {
			acc := account(u.name, h)
			who := u.name + "@" + h
			a := accts[strings.ToLower(h)]
			have := grantMap{}
			var what []string
			if a == nil {
				req := ""
				if u.require != "" {
					req = " " + requireSQL(u.require)
					what = append(what, requireSQL(u.require))
				}
				fmt.Fprintf(&sql, "CREATE USER IF NOT EXISTS %s %s%s;\n", acc, identified, req)
				note("+ user " + who + " with password " + secret.Redacted + req)
				creates++
			} else {
				have = a.grants
				if a.plugin != "mysql_native_password" || !hashMatches(a.hash, u.password) {
					fmt.Fprintf(&sql, "ALTER USER %s %s;\n", acc, identified)
					what = append(what, "password")
					note("~ password of " + who + " " + secret.Redacted)
				}
				if now := requireOf(a.sslType); u.require != "" && now != u.require {
					fmt.Fprintf(&sql, "ALTER USER %s %s;\n", acc, requireSQL(u.require))
					what = append(what, requireSQL(u.require)+" (now "+requireSQL(now)+")")
					note("~ " + who + ": " + requireSQL(now) + " -> " + requireSQL(u.require))
				}
			}
			if u.privs {
				ops := diffGrants(have, want, acc)
				for _, s := range slices.Concat(ops.revokes, ops.grants) {
					sql.WriteString(s + "\n")
				}
				what = append(what, ops.text...)
				for _, t := range ops.text {
					note(t[:1] + " " + t[1:] + " for " + who)
				}
			}
			switch {
			case a == nil && len(what) > 0:
				parts = append(parts, "create user "+who+" ("+strings.Join(what, ", ")+")")
			case a == nil:
				parts = append(parts, "create user "+who)
			case len(what) > 0:
				parts = append(parts, who+": "+strings.Join(what, ", "))
			}
		}
		if u.exclusive {
			for _, h := range u.unlisted(accts) {
				fmt.Fprintf(&sql, "DROP USER IF EXISTS %s;\n", account(u.name, h))
				parts = append(parts, "drop user "+u.name+"@"+h+" (host not listed)")
				note("- user " + u.name + "@" + h)
				drops++
			}
		}
	}
	if sql.Len() == 0 {
		return nil, nil
	}
	u.sql = sql.String()
	if !u.binlog {
		u.sql = "SET SESSION sql_log_bin = 0;\n" + u.sql
	}
	u.summary = strings.Join(parts, "; ")
	action := plan.Update
	switch {
	case creates > 0 && creates == len(parts) && drops == 0:
		action = plan.Create
	case drops > 0 && drops == len(parts):
		action = plan.Delete
	}
	return &module.Change{Action: action, Summary: u.summary, Diff: strings.Join(diff, "\n") + "\n"}, nil
}
