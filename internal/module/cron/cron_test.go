package cron

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func job(kv ...string) map[string]cty.Value {
	vals := map[string]cty.Value{}
	for i := 0; i+1 < len(kv); i += 2 {
		vals[kv[i]] = cty.StringVal(kv[i+1])
	}
	return vals
}

// build gives the file kind's probe a digest folder of the test's own.
func build(t *testing.T, vals map[string]cty.Value) module.Module {
	t.Helper()
	m := moduletest.MustBuild(t, New, moduletest.Args("cron", "t", vals))
	m.(*Cron).DigestDir = filepath.Join(t.TempDir(), "digests")
	return m
}

func TestJobFile(t *testing.T) {
	vals := job("name", "backup", "user", "backup", "schedule", "15  3 * * mon-fri", "command", "tar czf /var/backups/app-$(date +%F).tgz /srv/app")
	p := filepath.Join(Dir, "skiff-backup")
	os.Remove(p)
	ch := moduletest.Converge(t, func() module.Module { return build(t, vals) })
	if ch.Action != plan.Create || ch.Summary != "create "+p {
		t.Errorf("change = %s %q", ch.Action, ch.Summary)
	}
	want := "# skiff manages this file (cron task \"backup\"): changes made here are overwritten.\n" +
		"SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" +
		`15 3 * * mon-fri backup tar czf /var/backups/app-$(date +\%F).tgz /srv/app` + "\n"
	if got, _ := os.ReadFile(p); string(got) != want {
		t.Errorf("file = %q\nwant %q", got, want)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v: cron ignores a job file others can write", fi.Mode())
	}

	t.Run("a new schedule updates the file, with a diff", func(t *testing.T) {
		vals := job("name", "backup", "user", "backup", "schedule", "@daily", "command", "true")
		ch := moduletest.Converge(t, func() module.Module { return build(t, vals) })
		if ch.Action != plan.Update || !strings.Contains(ch.Diff, "+@daily backup true\n") {
			t.Errorf("change = %s %q\n%s", ch.Action, ch.Summary, ch.Diff)
		}
	})
	t.Run("absent removes it; undo brings it back", func(t *testing.T) {
		before := moduletest.PathState(t, p)
		m := build(t, job("name", "backup", "state", "absent"))
		if ch := moduletest.Check(t, m); ch == nil || ch.Action != plan.Delete {
			t.Fatalf("change = %+v", ch)
		}
		backup, undo, _ := moduletest.Reversal(t, m, filepath.Join(t.TempDir(), "runs", "1"))
		moduletest.MustRunFragment(t, "backup", backup)
		if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Fatal("the job's file is still there")
		}
		moduletest.MustRunFragment(t, "undo", undo)
		if got := moduletest.PathState(t, p); got != before {
			t.Errorf("after undo:\n%s\nwant:\n%s", got, before)
		}
	})
}

func TestDefaultUserIsRoot(t *testing.T) {
	if got := string(build(t, job("name", "x", "schedule", "@hourly", "command", "true")).(*Cron).Content); !strings.HasSuffix(got, "\n@hourly root true\n") {
		t.Errorf("file = %q", got)
	}
}

func TestArgumentErrors(t *testing.T) {
	for _, tc := range []struct {
		vals map[string]cty.Value
		want string
	}{
		{job("schedule", "@daily", "command", "true"), `needs the argument "name"`},
		{job("name", "x", "command", "true"), `needs the argument "schedule"`},
		{job("name", "x", "schedule", "@daily"), `needs the argument "command"`},
		{job("name", "my.job", "schedule", "@daily", "command", "true"), "cron ignores files with other names"},
		{job("name", "../x", "schedule", "@daily", "command", "true"), "letters, digits"},
		{job("name", "x", "schedule", "* * * *", "command", "true"), "neither five fields"},
		{job("name", "x", "schedule", "@sometimes", "command", "true"), "neither five fields"},
		{job("name", "x", "schedule", "* * * * * root", "command", "true"), "neither five fields"},
		{job("name", "x", "schedule", "@daily", "command", "a\nb"), "one line"},
		{job("name", "x", "schedule", "@daily", "command", `date +\%F`), "Write % as it is"},
		{job("name", "x", "schedule", "@daily", "command", "true", "user", "root x"), "not a user name"},
		{map[string]cty.Value{"name": cty.StringVal("x"), "schedule": cty.StringVal("@daily"), "command": secret.Wrap(cty.StringVal("curl -u me:pw"))}, "readable by every user"},
	} {
		_, diags := moduletest.Build(New, moduletest.Args("cron", "t", tc.vals))
		moduletest.DiagsContain(t, diags, tc.want)
	}
	// Absent needs only the name.
	moduletest.MustBuild(t, New, moduletest.Args("cron", "t", job("name", "x", "state", "absent")))
}
