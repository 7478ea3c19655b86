package user

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// Fakes over files of $FAKES: getent answers from passwd, shadow and group
// by name or id; useradd, userdel and groupadd keep passwd and group up to
// date (userdel takes the user's private group along, as Debian's does);
// chpasswd saves its stdin; usermod only logs.
const (
	fakeGetent = `f="$FAKES/$1"
[ -f "$f" ] || exit 2
if [ -z "$2" ]; then cat "$f"; exit 0; fi
awk -F: -v k="$2" '$1 == k || (k ~ /^[0-9]+$/ && $3 == k) { print; found = 1; exit } END { exit !found }' "$f" || exit 2`
	fakeUseradd = `for n; do :; done
echo "$n:x:990:990::/home/$n:/bin/sh" >> "$FAKES/passwd"`
	fakeUserdel = `for n; do :; done
for db in passwd group; do grep -v "^$n:" "$FAKES/$db" > "$FAKES/$db.new"; mv "$FAKES/$db.new" "$FAKES/$db"; done`
	fakeGroupadd = `for n; do :; done
echo "$n:x:$2:" >> "$FAKES/group"`
	fakeChpasswd = `cat > "$FAKES/chpasswd.in"`
)

const hash = "$y$j9T$s4ltS4lt$h4shh4shh4sh"

func fakes(t *testing.T, passwd, group string) *moduletest.Fakes {
	t.Helper()
	f := moduletest.FakeCommands(t, map[string]string{
		"getent": fakeGetent, "useradd": fakeUseradd, "userdel": fakeUserdel, "usermod": "",
		"groupadd": fakeGroupadd, "chpasswd": fakeChpasswd,
	})
	f.Write(t, "passwd", passwd)
	f.Write(t, "group", group)
	f.Write(t, "shadow", "app:"+hash+":19700:0:99999:7:::\n")
	return f
}

// run checks u against the probe output, runs backup and Apply, and
// returns the undo fragment.
func run(t *testing.T, f *moduletest.Fakes, vals map[string]cty.Value, probe string) string {
	t.Helper()
	vals["name"] = cty.StringVal("app")
	u := moduletest.MustBuild(t, New, moduletest.Args("user", "u", vals)).(*User)
	if ch, err := u.Check(module.Probed{Stdout: []byte(probe)}); err != nil || ch == nil {
		t.Fatalf("check: %v %v", ch, err)
	}
	backup, undo, after := moduletest.Reversal(t, u, t.TempDir())
	if after != "" {
		t.Errorf("after = %q", after)
	}
	moduletest.NoSecretIn(t, hash, backup, undo)
	moduletest.MustRunFragment(t, "backup", backup)
	if got := f.Calls(t, "getent"); len(got) > 0 {
		t.Fatalf("backup ran %q", got)
	}
	if err := u.Apply(context.Background(), &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	f.Calls(t)
	return undo
}

func TestUndoCreate(t *testing.T) {
	f := fakes(t, "root:x:0:0:root:/root:/bin/bash\n", "root:x:0:\n")
	undo := run(t, f, map[string]cty.Value{}, "passwd=\n")
	moduletest.MustRunFragment(t, "undo", undo)
	if got := f.Calls(t, "getent"); strings.Join(got, ",") != "userdel app" {
		t.Errorf("undo ran %q", got)
	}
	moduletest.MustRunFragment(t, "undo", undo)
	if got := f.Calls(t, "getent"); len(got) > 0 {
		t.Errorf("second undo ran %q", got)
	}
}

const (
	appPasswd = "app:x:990:990:App Server,,,:/srv/app:/usr/sbin/nologin\n"
	appGroups = "adm:x:4:syslog,app\napp:x:990:\ndocker:x:999:alice,app\nappx:x:998:apps\n"
)

func TestUndoModify(t *testing.T) {
	f := fakes(t, appPasswd, appGroups)
	undo := run(t, f, map[string]cty.Value{"uid": cty.NumberIntVal(991), "groups": list(), "shell": cty.StringVal("/bin/bash")},
		"passwd="+appPasswd+"primary=app\ngroups=app adm docker\n")
	want := "usermod -u 990 -g 990 -G adm,docker -d /srv/app -s /usr/sbin/nologin -c App Server,,, app"
	for i := range 2 {
		moduletest.MustRunFragment(t, "undo", undo)
		if got := f.Calls(t, "getent"); strings.Join(got, ",") != want {
			t.Errorf("undo #%d ran %q", i+1, got)
		}
	}
}

func TestUndoRemove(t *testing.T) {
	f := fakes(t, appPasswd, appGroups)
	undo := run(t, f, map[string]cty.Value{"state": cty.StringVal("absent")}, "passwd="+appPasswd+"primary=app\ngroups=app adm docker\n")
	f.Write(t, "passwd", "")
	f.Write(t, "group", "adm:x:4:syslog\ndocker:x:999:alice\n") // userdel took the private group
	moduletest.MustRunFragment(t, "undo", undo)
	want := "groupadd -g 990 app,useradd -M -u 990 -g 990 -G adm,docker -d /srv/app -s /usr/sbin/nologin -c App Server,,, app,chpasswd -e"
	if got := f.Calls(t, "getent"); strings.Join(got, ",") != want {
		t.Errorf("undo ran:\n%q\nwant:\n%q", strings.Join(got, ","), want)
	}
	if b, _ := os.ReadFile(filepath.Join(f.Dir, "chpasswd.in")); string(b) != "app:"+hash+"\n" {
		t.Errorf("chpasswd got %q", b)
	}
	// Recreated (by the fake useradd): a second undo only runs usermod.
	moduletest.MustRunFragment(t, "undo", undo)
	if got := f.Calls(t, "getent"); len(got) != 1 || !strings.HasPrefix(got[0], "usermod ") {
		t.Errorf("second undo ran %q", got)
	}
}

func TestUndoWithoutBackupFails(t *testing.T) {
	fakes(t, "", "")
	u := moduletest.MustBuild(t, New, moduletest.Args("user", "u", map[string]cty.Value{"name": cty.StringVal("app")})).(*User)
	u.Check(module.Probed{Stdout: []byte("passwd=\n")})
	_, undo, _ := moduletest.Reversal(t, u, t.TempDir())
	if res := moduletest.RunFragment(t, undo); res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "no saved account app") {
		t.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
	}
}
