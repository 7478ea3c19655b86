package nssfiles

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func root(t *testing.T, files map[string]string) string {
	r := t.TempDir()
	for name, content := range files {
		p := filepath.Join(r, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

const passwd = "root:x:0:0:root:/root:/bin/bash\napp:x:990:990::/srv/app:/usr/sbin/nologin\n"
const group = "root:x:0:\nadm:x:4:app\napp:x:990:\ndocker:x:998:bob,app\n"

func TestGroupsAreIdsOrder(t *testing.T) {
	d := Load(root(t, map[string]string{"etc/passwd": passwd, "etc/group": group, "etc/nsswitch.conf": "passwd: files systemd\ngroup: files\n"}))
	if !d.OK() {
		t.Fatal("not OK")
	}
	if got, ok := d.Groups("app", "990"); !ok || !reflect.DeepEqual(got, []string{"990", "4", "998"}) {
		t.Errorf("Groups = %v %v", got, ok)
	}
	if u, ok := d.User("app"); !ok || Line(u) != "app:x:990:990::/srv/app:/usr/sbin/nologin" {
		t.Errorf("User = %v", u)
	}
	if g, ok := d.GroupByID("998"); !ok || Line(g) != "docker:x:998:bob,app" {
		t.Errorf("GroupByID = %v", g)
	}
}

// Whatever the C library could read otherwise makes the DB unusable.
func TestUnsureFilesAreNotUsed(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"ldap first":     {"etc/passwd": passwd, "etc/group": group, "etc/nsswitch.conf": "passwd: ldap files\ngroup: files\n"},
		"initgroups":     {"etc/passwd": passwd, "etc/group": group, "etc/nsswitch.conf": "initgroups: files\n"},
		"compat entry":   {"etc/passwd": passwd + "+::::::\n", "etc/group": group},
		"comment":        {"etc/passwd": "# users\n" + passwd, "etc/group": group},
		"padded number":  {"etc/passwd": "app:x:0990:990::/:/bin/sh\n", "etc/group": group},
		"no newline":     {"etc/passwd": "app:x:990:990::/:/bin/sh", "etc/group": group},
		"empty member":   {"etc/passwd": passwd, "etc/group": "adm:x:4:app,,bob\n"},
		"userdb drop-in": {"etc/passwd": passwd, "etc/group": group, "etc/userdb/x.membership": ""},
	} {
		if Load(root(t, files)).OK() {
			t.Errorf("%s: used", name)
		}
	}
	// A user listed twice in groups of one gid: id would drop one.
	d := Load(root(t, map[string]string{"etc/passwd": passwd, "etc/group": "a:x:5:app\nb:x:5:app\n"}))
	if _, ok := d.Groups("app", "990"); ok {
		t.Errorf("a duplicated gid was answered")
	}
}
