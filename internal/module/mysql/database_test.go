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

func database(t *testing.T, vals map[string]cty.Value) *Database {
	t.Helper()
	return moduletest.MustBuild(t, NewDatabase, moduletest.Args("mysql_database", "db", vals)).(*Database)
}

func TestDatabaseCheck(t *testing.T) {
	name := map[string]cty.Value{"name": cty.StringVal("foobar")}
	for _, tc := range []struct {
		vals    map[string]cty.Value
		probe   module.Probed
		action  plan.Action // "" for no change
		summary string
		sql     string
	}{
		{name, probed(mariaVersion, "[db]\n[end]\n"), plan.Create, "create database foobar (utf8mb4)", "CREATE DATABASE IF NOT EXISTS `foobar` CHARACTER SET utf8mb4;"},
		{name, probed(mariaVersion, "[db]\nutf8mb4\n[end]\n"), "", "", ""},
		{name, probed(mariaVersion, "[db]\nlatin1\n[end]\n"), plan.Update, "database foobar: charset latin1 -> utf8mb4", "ALTER DATABASE `foobar` CHARACTER SET utf8mb4;"},
		{map[string]cty.Value{"name": cty.StringVal("foobar"), "state": cty.StringVal("absent")}, probed(mariaVersion, "[db]\nutf8mb4\n[end]\n"), plan.Delete, "drop database foobar", "DROP DATABASE `foobar`;"},
		{map[string]cty.Value{"name": cty.StringVal("foobar"), "state": cty.StringVal("absent")}, probed(mariaVersion, "[db]\n[end]\n"), "", "", ""},
		{name, downProbe, plan.Create, "create database foobar (server not running yet)", "CREATE DATABASE"},
		{name, missingProbe, plan.Create, "create database foobar (MySQL/MariaDB not installed yet)", "CREATE DATABASE"},
		{map[string]cty.Value{"name": cty.StringVal("foobar"), "state": cty.StringVal("absent")}, downProbe, "", "", ""},
	} {
		d := database(t, tc.vals)
		ch, err := d.Check(tc.probe)
		if err != nil {
			t.Fatalf("%s: %v", tc.probe.Stdout, err)
		}
		if tc.action == "" {
			if ch != nil {
				t.Errorf("%s: unexpected change %+v", tc.probe.Stdout, ch)
			}
			continue
		}
		if ch == nil || ch.Action != tc.action || ch.Summary != tc.summary {
			t.Errorf("%s: change %+v, want %s %q", tc.probe.Stdout, ch, tc.action, tc.summary)
			continue
		}
		rec := &recorder{}
		if err := d.Apply(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.scripts) != 1 || !strings.Contains(rec.scripts[0], tc.sql) {
			t.Errorf("script %q lacks %q", rec.scripts, tc.sql)
		}
		shParses(t, rec.scripts[0])
	}
}

func TestDatabaseErrors(t *testing.T) {
	d := database(t, map[string]cty.Value{"name": cty.StringVal("foobar")})
	if _, err := d.Check(deniedProbe); err == nil || !strings.Contains(err.Error(), "unix socket") {
		t.Errorf("denied: %v", err)
	}
	if _, err := d.Check(probed(mariaVersion, "[db]\nERROR 1054 (42S22) at line 2: Unknown column\n")); err == nil || !strings.Contains(err.Error(), "ERROR 1054") {
		t.Errorf("failed query: %v", err)
	}
	d.Check(probed(mariaVersion, "[db]\n[end]\n"))
	err := d.Apply(context.Background(), &recorder{results: []transport.Result{{ExitCode: 1, Stderr: []byte("ERROR 1044 (42000): Access denied")}}})
	if err == nil || !strings.Contains(err.Error(), "create database foobar") || !strings.Contains(err.Error(), "ERROR 1044") {
		t.Errorf("apply error: %v", err)
	}
}

func TestDatabaseProbeAndQuoting(t *testing.T) {
	d := database(t, map[string]cty.Value{"name": cty.StringVal("we`ird'name")})
	p := d.Probe()
	shParses(t, p)
	if !strings.Contains(p, `SCHEMA_NAME = 'we`+"`"+`ird\'name'`) {
		t.Errorf("probe:\n%s", p)
	}
	d.Check(probed(mariaVersion, "[db]\n[end]\n"))
	rec := &recorder{}
	d.Apply(context.Background(), rec)
	if !strings.Contains(rec.scripts[0], "CREATE DATABASE IF NOT EXISTS `we``ird'name`") {
		t.Errorf("script:\n%s", rec.scripts[0])
	}
}

func TestDatabaseValidation(t *testing.T) {
	for _, tc := range []struct {
		vals map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{}, `needs the argument "name"`},
		{map[string]cty.Value{"name": cty.StringVal(strings.Repeat("x", 65))}, "longer than 64"},
		{map[string]cty.Value{"name": cty.StringVal("a\nb")}, "control characters"},
		{map[string]cty.Value{"name": cty.StringVal("db"), "charset": cty.StringVal("utf8; DROP")}, "not a character set"},
		{map[string]cty.Value{"name": cty.StringVal("db"), "state": cty.StringVal("gone")}, "must be one of"},
		{map[string]cty.Value{"name": secret.Wrap(cty.StringVal("db"))}, "must not derive from a secret"},
	} {
		_, diags := moduletest.Build(NewDatabase, moduletest.Args("mysql_database", "db", tc.vals))
		moduletest.DiagsContain(t, diags, tc.want)
	}
}
