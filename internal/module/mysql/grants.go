package mysql

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// object is a privilege level: db.table, "*" for all. Names are kept as
// written in GRANT (a "_" in a database name is a wildcard there, and SHOW
// GRANTS prints "\_" for a literal one: both sides compare as written).
type object struct{ db, table string }

func (o object) String() string {
	show := func(s string) string {
		if s == "*" {
			return s
		}
		if strings.ContainsAny(s, ".` ") {
			return ident(s)
		}
		return s
	}
	return show(o.db) + "." + show(o.table)
}

// sql is the object in a GRANT or REVOKE statement.
func (o object) sql() string {
	q := func(s string) string {
		if s == "*" {
			return s
		}
		return ident(s)
	}
	return q(o.db) + "." + q(o.table)
}

// privSet is a set of canonical privilege names ("SELECT", "ALL PRIVILEGES",
// "GRANT OPTION").
type privSet map[string]bool

// grantMap holds the privileges of one account, by object.
type grantMap map[object]privSet

func (g grantMap) add(o object, privs ...string) {
	if g[o] == nil {
		g[o] = privSet{}
	}
	for _, p := range privs {
		g[o][p] = true
	}
}

// scanName reads a backtick- or single-quoted name, or a bare one up to
// one of stop, from the start of s.
func scanName(s, stop string) (name, rest string, err error) {
	if s == "" {
		return "", "", fmt.Errorf("missing name")
	}
	if q := s[0]; q == '`' || q == '\'' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == q {
				if i+1 < len(s) && s[i+1] == q { // doubled quote
					b.WriteByte(q)
					i++
					continue
				}
				return b.String(), s[i+1:], nil
			}
			b.WriteByte(s[i])
		}
		return "", "", fmt.Errorf("unterminated quote in %q", s)
	}
	i := strings.IndexAny(s, stop)
	if i < 0 {
		i = len(s)
	}
	if i == 0 {
		return "", "", fmt.Errorf("missing name in %q", s)
	}
	return s[:i], s[i:], nil
}

// scanObject reads "db.table" (each part quoted, bare or "*") from the
// start of s.
func scanObject(s string) (object, string, error) {
	db, rest, err := scanName(s, ". ")
	if err != nil {
		return object{}, "", err
	}
	if !strings.HasPrefix(rest, ".") {
		return object{}, "", fmt.Errorf("%q is not db.table (write \"db.*\" for a whole database)", s)
	}
	table, rest, err := scanName(rest[1:], " ")
	if err != nil {
		return object{}, "", err
	}
	if db == "*" && table != "*" {
		return object{}, "", fmt.Errorf("%q: a table needs a database", s)
	}
	return object{db, table}, rest, nil
}

var privRE = regexp.MustCompile(`^[A-Z]+( [A-Z]+)*$`)

// normPriv upper-cases a privilege and collapses its spaces; "ALL" is
// "ALL PRIVILEGES".
func normPriv(p string) string {
	p = strings.Join(strings.Fields(strings.ToUpper(p)), " ")
	if p == "ALL" {
		return "ALL PRIVILEGES"
	}
	return p
}

// canon maps a privilege to the name the server's SHOW GRANTS prints:
// MariaDB 10.5 renamed REPLICATION CLIENT to BINLOG MONITOR and accepts
// REPLICA for SLAVE.
func (s server) canon(p string) string {
	if s.mariadb() && s.atLeast(10, 5) {
		switch p {
		case "REPLICATION CLIENT":
			return "BINLOG MONITOR"
		case "REPLICATION REPLICA":
			return "REPLICATION SLAVE"
		case "REPLICA MONITOR":
			return "SLAVE MONITOR"
		}
	}
	return p
}

// declaredGrant is one entry of the privileges argument.
type declaredGrant struct {
	obj   object
	privs []string // normalised, in the order written
}

// parseDeclared reads an entry such as "foobar.*:ALL" or
// "*.*:REPLICATION SLAVE,REPLICATION CLIENT".
func parseDeclared(s string) (declaredGrant, error) {
	objText, privText, ok := strings.Cut(s, ":")
	if !ok {
		return declaredGrant{}, fmt.Errorf("%q is not \"db.table:PRIV,PRIV\" (such as \"foobar.*:ALL\")", s)
	}
	obj, rest, err := scanObject(strings.TrimSpace(objText))
	if err != nil {
		return declaredGrant{}, err
	}
	if strings.TrimSpace(rest) != "" {
		return declaredGrant{}, fmt.Errorf("%q: unexpected %q after the object", s, rest)
	}
	g := declaredGrant{obj: obj}
	for p := range strings.SplitSeq(privText, ",") {
		p = normPriv(p)
		switch {
		case p == "USAGE":
			continue // no privilege
		case !privRE.MatchString(p):
			return declaredGrant{}, fmt.Errorf("%q: %q is not a privilege (column privileges are not supported)", s, p)
		}
		if !slices.Contains(g.privs, p) {
			g.privs = append(g.privs, p)
		}
	}
	return g, nil
}

// splitPrivs splits a SHOW GRANTS privilege list at commas outside
// parentheses and quotes.
func splitPrivs(s string) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '`' || c == '\'':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// grantLine is one parsed line of SHOW GRANTS.
type grantLine struct {
	user, host string
	obj        object
	privs      []string // table-level privileges; column privileges left out
}

// parseGrantLine parses "GRANT privs ON object TO `user`@`host` [… WITH
// GRANT OPTION]". ok is false for lines that grant something else: roles,
// PROXY, routines. The IDENTIFIED part that MariaDB prints is cut off by
// the probe, so that password hashes are not read twice.
func parseGrantLine(line string) (g grantLine, ok bool, err error) {
	rest, found := strings.CutPrefix(line, "GRANT ")
	if !found {
		return g, false, nil
	}
	privText, afterOn, found := strings.Cut(rest, " ON ")
	if !found {
		return g, false, nil // GRANT role TO user
	}
	for _, kw := range []string{"PROCEDURE ", "FUNCTION ", "PACKAGE "} {
		if strings.HasPrefix(afterOn, kw) {
			return g, false, nil
		}
	}
	if strings.TrimSpace(privText) == "PROXY" {
		return g, false, nil
	}
	obj, rest, err := scanObject(afterOn)
	if err != nil {
		return g, false, fmt.Errorf("SHOW GRANTS line %q: %v", line, err)
	}
	rest, found = strings.CutPrefix(rest, " TO ")
	if !found {
		return g, false, fmt.Errorf("SHOW GRANTS line %q: no TO", line)
	}
	user, rest, err := scanName(rest, "@")
	if err == nil && strings.HasPrefix(rest, "@") {
		var host string
		host, rest, err = scanName(rest[1:], " ")
		g.host = host
	}
	if err != nil {
		return g, false, fmt.Errorf("SHOW GRANTS line %q: %v", line, err)
	}
	g.user, g.obj = user, obj
	for _, p := range splitPrivs(privText) {
		p = strings.TrimSpace(p)
		if strings.Contains(p, "(") {
			continue // column privilege: not managed
		}
		if p = normPriv(p); p != "USAGE" {
			g.privs = append(g.privs, p)
		}
	}
	if strings.Contains(rest, "WITH GRANT OPTION") {
		g.privs = append(g.privs, "GRANT OPTION")
	}
	return g, true, nil
}

// grantOps are the statements that turn one account's privileges into the
// wanted ones.
type grantOps struct {
	revokes, grants []string // whole statements, revokes to run first
	text            []string // "+SELECT ON x.*", for summaries
}

// diffGrants compares privileges object by object for the account acct
// (quoted for SQL). ALL PRIVILEGES covers every other privilege but GRANT
// OPTION. Objects not wanted lose all their privileges.
func diffGrants(have, want grantMap, acct string) grantOps {
	var ops grantOps
	objs := map[object]bool{}
	for o := range have {
		objs[o] = true
	}
	for o := range want {
		objs[o] = true
	}
	sorted := make([]object, 0, len(objs))
	for o := range objs {
		sorted = append(sorted, o)
	}
	slices.SortFunc(sorted, func(a, b object) int { return strings.Compare(a.String(), b.String()) })

	for _, o := range sorted {
		h, w := have[o], want[o]
		var grant, revoke []string
		switch {
		case w["ALL PRIVILEGES"] && !h["ALL PRIVILEGES"]:
			grant = append(grant, "ALL PRIVILEGES")
		case !w["ALL PRIVILEGES"] && h["ALL PRIVILEGES"]:
			revoke = append(revoke, "ALL PRIVILEGES")
			for p := range w {
				if p != "GRANT OPTION" {
					grant = append(grant, p)
				}
			}
		case !w["ALL PRIVILEGES"]:
			for p := range w {
				if !h[p] && p != "GRANT OPTION" {
					grant = append(grant, p)
				}
			}
			for p := range h {
				if !w[p] && p != "GRANT OPTION" {
					revoke = append(revoke, p)
				}
			}
		}
		slices.Sort(grant)
		slices.Sort(revoke)
		if !w["GRANT OPTION"] && h["GRANT OPTION"] {
			revoke = append(revoke, "GRANT OPTION")
		}
		withGrant := ""
		if w["GRANT OPTION"] && !h["GRANT OPTION"] {
			withGrant = " WITH GRANT OPTION"
			if len(grant) == 0 {
				grant = []string{"USAGE"} // GRANT needs a privilege; USAGE is none
			}
		}
		if len(revoke) > 0 {
			ops.revokes = append(ops.revokes, fmt.Sprintf("REVOKE %s ON %s FROM %s;", strings.Join(revoke, ", "), o.sql(), acct))
			ops.text = append(ops.text, "-"+strings.Join(revoke, ",")+" ON "+o.String())
		}
		if len(grant) > 0 {
			ops.grants = append(ops.grants, fmt.Sprintf("GRANT %s ON %s TO %s%s;", strings.Join(grant, ", "), o.sql(), acct, withGrant))
			shown := strings.Join(grant, ",")
			if withGrant != "" {
				shown = strings.TrimPrefix(shown+",GRANT OPTION", "USAGE,")
			}
			ops.text = append(ops.text, "+"+shown+" ON "+o.String())
		}
	}
	return ops
}
