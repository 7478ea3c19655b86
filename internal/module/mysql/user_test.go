package mysql

import (
	"context"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// appPassword holds every character that needs care in SQL, sh and option files.
const appPassword = `s3cr'et"\ $(id) ` + "`x`" + `#;--`

func strList(s ...string) cty.Value {
	var vs []cty.Value
	for _, x := range s {
		vs = append(vs, cty.StringVal(x))
	}
	return cty.TupleVal(vs)
}

func appUser(t *testing.T, extra map[string]cty.Value) *User {
	t.Helper()
	vals := map[string]cty.Value{
		"name":       cty.StringVal("foobar"),
		"hosts":      strList("10.0.0.5", "10.0.0.6"),
		"password":   secret.Wrap(cty.StringVal(appPassword)),
		"privileges": strList("foobar.*:ALL"),
	}
	for k, v := range extra {
		if v == cty.NilVal {
			delete(vals, k)
		} else {
			vals[k] = v
		}
	}
	return moduletest.MustBuild(t, NewUser, moduletest.Args("mysql_user", "app", vals)).(*User)
}

// userProbe builds the [user] section: accounts as "host plugin hash",
// or "host plugin hash ssl_type", then SHOW GRANTS lines, then the
// client's errors.
func userProbe(version string, accounts []string, lines ...string) module.Probed {
	var b strings.Builder
	b.WriteString("[user]\n")
	for _, a := range accounts {
		f := strings.SplitN(a, " ", 4)
		for len(f) < 4 {
			f = append(f, "")
		}
		b.WriteString("acct\t" + f[0] + "\t" + f[1] + "\t" + f[3] + "\t" + f[2] + "\n")
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("[end]\n")
	return probed(version, b.String())
}

var goodHash = NativePasswordHash(appPassword)

// applied runs Check then Apply with a recorder and returns the change and the SQL script.
func applied(t *testing.T, m module.Module, p module.Probed) (*module.Change, string) {
	t.Helper()
	ch, err := m.Check(p)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if ch == nil {
		return nil, ""
	}
	rec := &recorder{}
	if err := m.Apply(context.Background(), rec); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(rec.scripts) != 1 {
		t.Fatalf("%d scripts", len(rec.scripts))
	}
	shParses(t, rec.scripts[0])
	assertSecretOnlyInHeredocs(t, rec.scripts, appPassword, sqlEscaper.Replace(appPassword))
	moduletest.NoSecret(t, appPassword, ch, nil)
	moduletest.NoSecret(t, goodHash, ch, nil)
	return ch, rec.scripts[0]
}

func TestUserCreate(t *testing.T) {
	u := appUser(t, nil)
	ch, script := applied(t, u, userProbe(mariaVersion, nil,
		"ERROR 1141 (42000) at line 3: There is no such grant defined for user 'foobar' on host '10.0.0.5'",
		"ERROR 1141 (42000) at line 4: There is no such grant defined for user 'foobar' on host '10.0.0.6'"))
	if ch.Action != plan.Create || ch.Summary != "create user foobar@10.0.0.5 (+ALL PRIVILEGES ON foobar.*); create user foobar@10.0.0.6 (+ALL PRIVILEGES ON foobar.*)" {
		t.Errorf("change = %+v", ch)
	}
	for _, want := range []string{
		"CREATE USER IF NOT EXISTS 'foobar'@'10.0.0.5' IDENTIFIED BY " + sqlString(appPassword) + ";",
		"GRANT ALL PRIVILEGES ON `foobar`.* TO 'foobar'@'10.0.0.5';",
		"CREATE USER IF NOT EXISTS 'foobar'@'10.0.0.6' IDENTIFIED BY ",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if !strings.HasPrefix(script, client+" ") || !strings.Contains(client, " --protocol=socket -uroot ") {
		t.Errorf("not root over the socket: %s", script)
	}

	// MySQL 8: mysql_native_password, so that the hash check holds.
	_, script = applied(t, appUser(t, nil), userProbe("8.0.36-0ubuntu0.22.04.1", nil))
	if !strings.Contains(script, "IDENTIFIED WITH mysql_native_password BY "+sqlString(appPassword)) {
		t.Errorf("MySQL script:\n%s", script)
	}
}

func TestUserUpToDate(t *testing.T) {
	p := userProbe(mariaVersion,
		[]string{"10.0.0.5 mysql_native_password " + goodHash, "10.0.0.6 mysql_native_password " + strings.ToLower(goodHash)},
		"GRANT USAGE ON *.* TO `foobar`@`10.0.0.5`",
		"GRANT ALL PRIVILEGES ON `foobar`.* TO `foobar`@`10.0.0.5`",
		"GRANT USAGE ON *.* TO `foobar`@`10.0.0.6`",
		"GRANT ALL PRIVILEGES ON `foobar`.* TO `foobar`@`10.0.0.6`")
	if ch, _ := applied(t, appUser(t, nil), p); ch != nil {
		t.Errorf("up to date: %+v", ch)
	}
}

func TestUserChanges(t *testing.T) {
	p := userProbe(mariaVersion,
		[]string{"10.0.0.5 mysql_native_password " + NativePasswordHash("old"), "10.0.0.6 unix_socket ", "% mysql_native_password " + goodHash},
		"GRANT ALL PRIVILEGES ON `foobar`.* TO `foobar`@`10.0.0.5`",
		"GRANT SELECT, DELETE ON `other`.* TO `foobar`@`10.0.0.6`")
	ch, script := applied(t, appUser(t, nil), p)
	wantSummary := "foobar@10.0.0.5: password; foobar@10.0.0.6: password, +ALL PRIVILEGES ON foobar.*, -DELETE,SELECT ON other.*; drop user foobar@% (host not listed)"
	if ch.Action != plan.Update || ch.Summary != wantSummary {
		t.Errorf("summary = %q\nwant      %q", ch.Summary, wantSummary)
	}
	wantSQL := []string{
		"ALTER USER 'foobar'@'10.0.0.5' IDENTIFIED BY " + sqlString(appPassword) + ";",
		"ALTER USER 'foobar'@'10.0.0.6' IDENTIFIED BY " + sqlString(appPassword) + ";",
		"REVOKE DELETE, SELECT ON `other`.* FROM 'foobar'@'10.0.0.6';",
		"GRANT ALL PRIVILEGES ON `foobar`.* TO 'foobar'@'10.0.0.6';",
		"DROP USER IF EXISTS 'foobar'@'%';",
	}
	last := -1
	for _, w := range wantSQL {
		i := strings.Index(script, w)
		if i < 0 || i < last {
			t.Errorf("script lacks %q (or out of order):\n%s", w, script)
		}
		last = i
	}
	if !strings.Contains(ch.Diff, "~ password of foobar@10.0.0.5 (sensitive)") || !strings.Contains(ch.Diff, "- user foobar@%") {
		t.Errorf("diff:\n%s", ch.Diff)
	}

	// With host (not hosts) other accounts of the name stay; without
	// privileges, grants are not managed.
	u := appUser(t, map[string]cty.Value{"hosts": cty.NilVal, "host": cty.StringVal("10.0.0.5"), "privileges": cty.NilVal})
	p = userProbe(mariaVersion, []string{"10.0.0.5 mysql_native_password " + goodHash, "% mysql_native_password x"},
		"GRANT SELECT ON `other`.* TO `foobar`@`10.0.0.5`")
	if ch, _ := applied(t, u, p); ch != nil {
		t.Errorf("host, no privileges: %+v", ch)
	}
}

func TestUserAbsent(t *testing.T) {
	u := appUser(t, map[string]cty.Value{"state": cty.StringVal("absent"), "password": cty.NilVal, "privileges": cty.NilVal})
	p := userProbe(mariaVersion, []string{"10.0.0.6 mysql_native_password x", "% mysql_native_password y"})
	ch, err := u.Check(p)
	if err != nil || ch == nil || ch.Action != plan.Delete || ch.Summary != "drop user foobar@10.0.0.6" {
		t.Fatalf("absent: %+v %v", ch, err)
	}
	rec := &recorder{}
	u.Apply(context.Background(), rec)
	if !strings.Contains(rec.scripts[0], "DROP USER IF EXISTS 'foobar'@'10.0.0.6';") || strings.Contains(rec.scripts[0], "'%'") {
		t.Errorf("script:\n%s", rec.scripts[0])
	}
	if ch, _ := u.Check(userProbe(mariaVersion, []string{"% mysql_native_password y"})); ch != nil {
		t.Errorf("nothing to drop: %+v", ch)
	}
}

func TestUserServerNotRunning(t *testing.T) {
	u := appUser(t, nil)
	ch, err := u.Check(downProbe)
	if err != nil || ch == nil || ch.Action != plan.Create || !strings.Contains(ch.Summary, "server not running yet") {
		t.Fatalf("down: %+v %v", ch, err)
	}
	err = u.Apply(context.Background(), &recorder{})
	if err == nil || !strings.Contains(err.Error(), "still not running") {
		t.Errorf("apply: %v", err)
	}
	if _, err := u.Check(deniedProbe); err == nil {
		t.Errorf("access denied is an error")
	}
}

func TestUserSecretsInErrors(t *testing.T) {
	u := appUser(t, nil)
	// A probe error never quotes the account lines (which hold hashes).
	_, err := u.Check(userProbe(mariaVersion, []string{"10.0.0.5 mysql_native_password " + goodHash},
		"ERROR 1142 (42000) at line 2: SELECT command denied"))
	if err == nil || !strings.Contains(err.Error(), "ERROR 1142") {
		t.Fatalf("probe error: %v", err)
	}
	moduletest.NoSecret(t, goodHash, nil, err)
	if _, err := u.Check(probed(mariaVersion, "[user]\nacct\t10.0.0.5\tmysql_native_password\t\t"+goodHash+"\n")); err == nil || strings.Contains(err.Error(), goodHash) {
		t.Errorf("cut-short probe: %v", err)
	}

	// The server's error echoes the statement, password included: scrubbed.
	if _, err := u.Check(userProbe(mariaVersion, nil)); err != nil {
		t.Fatal(err)
	}
	echo := "ERROR 1064 (42000) at line 2: You have an error in your SQL syntax near 'IDENTIFIED BY " + sqlString(appPassword) + "' and " + appPassword + " and " + goodHash
	err = u.Apply(context.Background(), &recorder{results: []transport.Result{{ExitCode: 1, Stderr: []byte(echo)}}})
	if err == nil || !strings.Contains(err.Error(), "ERROR 1064") {
		t.Fatalf("apply: %v", err)
	}
	for _, s := range []string{appPassword, sqlEscaper.Replace(appPassword), goodHash} {
		moduletest.NoSecret(t, s, nil, err)
	}
}

func TestUserProbe(t *testing.T) {
	u := appUser(t, nil)
	p := u.Probe()
	shParses(t, p)
	for _, s := range []string{appPassword, sqlEscaper.Replace(appPassword), goodHash} {
		if strings.Contains(p, s) {
			t.Errorf("the probe holds a secret:\n%s", p)
		}
	}
	for _, want := range []string{"WHERE User = 'foobar'", "SHOW GRANTS FOR 'foobar'@'10.0.0.5';", "SHOW GRANTS FOR 'foobar'@'10.0.0.6';", "--force", "s/ IDENTIFIED .*//"} {
		if !strings.Contains(p, want) {
			t.Errorf("probe lacks %q", want)
		}
	}
}

func TestUserValidation(t *testing.T) {
	pw := secret.Wrap(cty.StringVal("x"))
	for _, tc := range []struct {
		vals map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{"name": cty.StringVal("a"), "password": pw, "host": cty.StringVal("%"), "hosts": strList("h")}, "either host or hosts"},
		{map[string]cty.Value{"name": cty.StringVal("a"), "password": pw, "hosts": cty.EmptyTupleVal}, "hosts must not be empty"},
		{map[string]cty.Value{"name": cty.StringVal("a"), "password": pw, "hosts": strList("h", "H")}, "listed twice"},
		{map[string]cty.Value{"name": cty.StringVal("root"), "password": pw, "host": cty.StringVal("localhost")}, "root@localhost"},
		{map[string]cty.Value{"name": cty.StringVal("a")}, "needs a password"},
		{map[string]cty.Value{"name": cty.StringVal("a"), "password": cty.StringVal("")}, "must not be empty"},
		{map[string]cty.Value{"name": cty.StringVal("a"), "password": pw, "privileges": strList("foobar:ALL")}, "is not db.table"},
		{map[string]cty.Value{"name": cty.StringVal("a"), "password": pw, "privileges": strList("db.*:SELECT", "db.*:INSERT")}, "listed twice"},
		{map[string]cty.Value{"name": cty.StringVal("a"), "state": cty.StringVal("absent"), "privileges": strList("db.*:SELECT")}, "present\" only"},
		{map[string]cty.Value{"name": secret.Wrap(cty.StringVal("a")), "password": pw}, "must not derive from a secret"},
		{map[string]cty.Value{"name": cty.StringVal(strings.Repeat("u", 81)), "password": pw}, "longer than 80"},
	} {
		_, diags := moduletest.Build(NewUser, moduletest.Args("mysql_user", "u", tc.vals))
		moduletest.DiagsContain(t, diags, tc.want)
	}
	// root@localhost survives a hosts list without it.
	root := moduletest.MustBuild(t, NewUser, moduletest.Args("mysql_user", "u", map[string]cty.Value{
		"name": cty.StringVal("root"), "password": pw, "hosts": strList("10.0.0.1")})).(*User)
	root.Check(userProbe(mariaVersion, []string{"localhost mysql_native_password invalid", "10.0.0.1 mysql_native_password " + NativePasswordHash("x"), "% mysql_native_password y"}))
	if !strings.Contains(root.sql, "DROP USER IF EXISTS 'root'@'%';") || strings.Contains(root.sql, "localhost") {
		t.Errorf("root: %s", root.sql)
	}

	// The default host is "%".
	u := moduletest.MustBuild(t, NewUser, moduletest.Args("mysql_user", "u", map[string]cty.Value{"name": cty.StringVal("a"), "password": pw})).(*User)
	if len(u.hosts) != 1 || u.hosts[0] != "%" || u.exclusive {
		t.Errorf("hosts = %v", u.hosts)
	}
}

// requireApplied is applied for changes whose SQL holds no password.
func requireApplied(t *testing.T, m module.Module, p module.Probed) (*module.Change, string) {
	t.Helper()
	ch, err := m.Check(p)
	if err != nil || ch == nil {
		t.Fatalf("check: %+v %v", ch, err)
	}
	rec := &recorder{}
	if err := m.Apply(context.Background(), rec); err != nil || len(rec.scripts) != 1 {
		t.Fatalf("apply: %v, %d scripts", err, len(rec.scripts))
	}
	shParses(t, rec.scripts[0])
	return ch, rec.scripts[0]
}

// require sets what an account demands of a client's connection: created
// with it, changed where it differs (with the old value in the plan), left
// alone when it matches or when require is left out.
func TestUserRequire(t *testing.T) {
	ssl := map[string]cty.Value{"require": cty.StringVal("ssl")}

	ch, script := applied(t, appUser(t, ssl), userProbe(mariaVersion, nil))
	if !strings.Contains(script, "CREATE USER IF NOT EXISTS 'foobar'@'10.0.0.5' IDENTIFIED BY "+sqlString(appPassword)+" REQUIRE SSL;") {
		t.Errorf("create script:\n%s", script)
	}
	if !strings.HasPrefix(ch.Summary, "create user foobar@10.0.0.5 (REQUIRE SSL, +ALL PRIVILEGES ON foobar.*)") {
		t.Errorf("create summary: %q", ch.Summary)
	}
	_, script = applied(t, appUser(t, ssl), userProbe("8.0.36", nil))
	if !strings.Contains(script, "IDENTIFIED WITH mysql_native_password BY "+sqlString(appPassword)+" REQUIRE SSL;") {
		t.Errorf("MySQL create script:\n%s", script)
	}

	grants := []string{
		"GRANT USAGE ON *.* TO `foobar`@`10.0.0.5` REQUIRE SSL",
		"GRANT ALL PRIVILEGES ON `foobar`.* TO `foobar`@`10.0.0.5`",
		"GRANT USAGE ON *.* TO `foobar`@`10.0.0.6`",
		"GRANT ALL PRIVILEGES ON `foobar`.* TO `foobar`@`10.0.0.6`",
	}
	// One account already requires TLS, the other nothing: only it changes.
	p := userProbe(mariaVersion, []string{"10.0.0.5 mysql_native_password " + goodHash + " ANY", "10.0.0.6 mysql_native_password " + goodHash}, grants...)
	ch, script = requireApplied(t, appUser(t, ssl), p)
	if ch == nil || ch.Action != plan.Update || ch.Summary != "foobar@10.0.0.6: REQUIRE SSL (now REQUIRE NONE)" {
		t.Fatalf("change = %+v", ch)
	}
	if !strings.Contains(ch.Diff, "~ foobar@10.0.0.6: REQUIRE NONE -> REQUIRE SSL") {
		t.Errorf("diff:\n%s", ch.Diff)
	}
	if !strings.Contains(script, "ALTER USER 'foobar'@'10.0.0.6' REQUIRE SSL;") || strings.Contains(script, "'10.0.0.5' REQUIRE") || strings.Contains(script, "IDENTIFIED") {
		t.Errorf("script:\n%s", script)
	}

	// Up to date; and without require, whatever the accounts require stays.
	p = userProbe(mariaVersion, []string{"10.0.0.5 mysql_native_password " + goodHash + " ANY", "10.0.0.6 mysql_native_password " + goodHash + " ANY"}, grants...)
	if ch, _ := applied(t, appUser(t, ssl), p); ch != nil {
		t.Errorf("up to date: %+v", ch)
	}
	p = userProbe(mariaVersion, []string{"10.0.0.5 mysql_native_password " + goodHash + " X509", "10.0.0.6 mysql_native_password " + goodHash}, grants...)
	if ch, _ := applied(t, appUser(t, nil), p); ch != nil {
		t.Errorf("require not managed: %+v", ch)
	}

	// x509 and none; issuer or subject conditions are replaced.
	p = userProbe(mariaVersion, []string{"10.0.0.5 mysql_native_password " + goodHash + " SPECIFIED", "10.0.0.6 mysql_native_password " + goodHash + " ANY"}, grants...)
	ch, script = requireApplied(t, appUser(t, map[string]cty.Value{"require": cty.StringVal("x509")}), p)
	if ch.Summary != "foobar@10.0.0.5: REQUIRE X509 (now REQUIRE (issuer, subject or cipher)); foobar@10.0.0.6: REQUIRE X509 (now REQUIRE SSL)" ||
		!strings.Contains(script, "ALTER USER 'foobar'@'10.0.0.5' REQUIRE X509;") {
		t.Errorf("x509: %q\n%s", ch.Summary, script)
	}
	ch, script = requireApplied(t, appUser(t, map[string]cty.Value{"require": cty.StringVal("none")}), p)
	if ch == nil || !strings.Contains(script, "ALTER USER 'foobar'@'10.0.0.6' REQUIRE NONE;") {
		t.Errorf("none: %+v\n%s", ch, script)
	}

	for _, tc := range []struct {
		vals map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{"name": cty.StringVal("a"), "password": secret.Wrap(cty.StringVal("x")), "require": cty.StringVal("tls")}, `"require" must be one of`},
		{map[string]cty.Value{"name": cty.StringVal("a"), "state": cty.StringVal("absent"), "require": cty.StringVal("ssl")}, "require goes with state"},
	} {
		_, diags := moduletest.Build(NewUser, moduletest.Args("mysql_user", "u", tc.vals))
		moduletest.DiagsContain(t, diags, tc.want)
	}
}
