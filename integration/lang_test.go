package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// langRole uses retries, tags and become_user: a command that succeeds on
// its third try (and notifies a handler), a file tagged tls, and a user
// svc whose command and file run and are written as svc.
const langRole = `
task "user" "svc" {
  name = "svc"
  tags = ["users"]
}
task "command" "whoami" {
  command     = "id -un > whoami.txt; pwd >> whoami.txt"
  creates     = "/home/svc/whoami.txt"
  become_user = "svc"
  tags        = ["users"]
}
task "file" "note" {
  path        = "/srv/note.txt"
  content     = "written for svc\n"
  become_user = "svc"
  tags        = ["users"]
}
task "command" "third_try" {
  command = "n=$(cat /var/tmp/tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > /var/tmp/tries; [ $n -ge 3 ] && touch /var/tmp/up"
  creates = "/var/tmp/up"
  retries = 4
  delay   = "1s"
  tags    = ["retry"]
  notify  = ["retried"]
}
task "file" "tls" {
  path    = "/etc/skiff-tls.txt"
  content = "tls\n"
  tags    = ["tls"]
}
handler "command" "retried" { command = "touch /var/tmp/handled" }
`

// langChange is a change of skiff's JSON output, with the fields this test
// reads that the shared result type leaves out.
type langChange struct {
	Task    string `json:"task"`
	Summary string `json:"summary"`
	Tries   int    `json:"tries"`
}

func langChanges(t *testing.T, r run) map[string]langChange {
	t.Helper()
	var doc struct {
		Hosts []struct {
			Changes []langChange `json:"changes"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("JSON: %v\n%s", err, r.stdout)
	}
	out := map[string]langChange{}
	for _, h := range doc.Hosts {
		for _, c := range h.Changes {
			out[c.Task] = c
		}
	}
	return out
}

func taskNames(m map[string]langChange) string {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// TestLanguageOnARealHost: --tags and --skip-tags choose the tasks (and a
// chosen task's handler runs), a command that fails twice succeeds on its
// third try and the output says so, and become_user runs a command as a
// non-root user and has the files it writes owned by that user.
func TestLanguageOnARealHost(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": {"web"}}, ""); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "roles", "lang"), 0o755)
	os.WriteFile(filepath.Join(dir, "roles", "lang", "role.hcl"), []byte(langRole), 0o644)
	pb := filepath.Join(dir, "lang.hcl")
	os.WriteFile(pb, []byte(`play "lang" { hosts = "all"  roles = ["lang"] }`+"\n"), 0o644)
	apply := func(t *testing.T, extra ...string) run {
		t.Helper()
		return skiff(t, append([]string{"apply", "-i", inv, pb, "--yes", "--output", "json"}, extra...)...)
	}

	t.Run("a tag nothing gives is refused", func(t *testing.T) {
		r := skiff(t, "plan", "-i", inv, pb, "--tags", "tsl")
		if r.code != 1 || !strings.Contains(r.stderr, `--tags tsl: no task, role or play`) || !strings.Contains(r.stderr, `Did you mean "tls"?`) {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})

	t.Run("tags choose the tasks", func(t *testing.T) {
		r := skiff(t, "plan", "-i", inv, pb, "--output", "json", "--tags", "tls,users", "--skip-tags", "users")
		if got := taskNames(langChanges(t, r)); r.code != 0 || got != "file.tls" {
			t.Fatalf("plan --tags tls,users --skip-tags users: exit %d, changes %s\n%s", r.code, got, r.stderr)
		}
		r = apply(t, "--tags", "tls")
		if got := taskNames(langChanges(t, r)); r.code != 0 || got != "file.tls" {
			t.Fatalf("apply --tags tls: exit %d, changes %s\n%s", r.code, got, r.stderr)
		}
		out, _ := hostExec(t, c, "h1", "cat /etc/skiff-tls.txt; id svc 2>&1; ls /var/tmp/tries 2>&1")
		if !strings.Contains(out, "tls\n") || !strings.Contains(out, "no such user") || !strings.Contains(out, "No such file") {
			t.Fatalf("apply --tags tls changed more than the tls task:\n%s", out)
		}
	})

	t.Run("a command that fails twice succeeds on its third try", func(t *testing.T) {
		r := apply(t, "--tags", "retry")
		got := langChanges(t, r)
		if r.code != 0 || got["command.third_try"].Tries != 3 || taskNames(got) != "command.third_try,handler.retried" {
			t.Fatalf("apply --tags retry: exit %d, changes %+v\n%s", r.code, got, r.stderr)
		}
		if !strings.Contains(r.stderr, "lang/lang command.third_try: took 3 tries") || strings.Count(r.stderr, "try ") < 2 {
			t.Errorf("the recap or the progress does not tell the tries:\n%s", r.stderr)
		}
		out, _ := hostExec(t, c, "h1", "cat /var/tmp/tries; ls /var/tmp/up /var/tmp/handled")
		if out != "3\n/var/tmp/handled\n/var/tmp/up\n" {
			t.Errorf("host after the retries (the tries, the handler of the chosen task):\n%s", out)
		}
	})

	t.Run("become_user runs the command as svc and has svc own the file", func(t *testing.T) {
		r := skiff(t, "plan", "-i", inv, pb, "--output", "json")
		if got := langChanges(t, r)["command.whoami"].Summary; !strings.HasSuffix(got, "(as svc)") {
			t.Errorf("the plan line does not say the user: %q", got)
		}
		r = apply(t)
		if got := taskNames(langChanges(t, r)); r.code != 0 || got != "command.whoami,file.note,user.svc" {
			t.Fatalf("apply: exit %d, changes %s\n%s", r.code, got, r.stderr)
		}
		out, _ := hostExec(t, c, "h1", "cat /home/svc/whoami.txt; stat -c '%U %G %a' /home/svc/whoami.txt /srv/note.txt; cat /srv/note.txt")
		if want := "svc\n/home/svc\nsvc svc 644\nsvc root 644\nwritten for svc\n"; out != want {
			t.Errorf("host:\n%s\nwant:\n%s", out, want)
		}
		r = skiff(t, "plan", "-i", inv, pb, "--output", "json", "--detailed-exitcode")
		if r.code != 0 {
			t.Errorf("second plan: exit %d, changes %s\n%s", r.code, taskNames(langChanges(t, r)), r.stderr)
		}
	})
}
