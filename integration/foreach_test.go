package integration

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sitesRole serves a page per site and keeps a user per name, with
// for_each over a map and over a set; each page notifies the reload of
// its own site only.
const sitesRole = `
variable "sites" {
  default = { alpha = "Alpha site", beta = "Beta site", gamma = "Gamma site" }
}
variable "users" { default = ["ann", "bob"] }

task "user" "site" {
  for_each = toset(var.users)
  name     = each.key
  shell    = "/bin/sh"
}
task "directory" "root" { path = "/srv/sites" }
task "directory" "site" {
  for_each = var.sites
  path     = "/srv/sites/${each.key}"
  mode     = "0755"
}
task "file" "index" {
  for_each = var.sites
  path     = "/srv/sites/${each.key}/index.html"
  content  = "<h1>${each.value}</h1>\n"
  mode     = "0644"
  notify   = ["reload[\"${each.key}\"]"]
}
handler "command" "reload" {
  for_each = var.sites
  command  = "echo reloaded > /srv/reloaded.${each.key}"
  undo     = "rm -f /srv/reloaded.${each.key}"
}
`

// TestForEachOnARealHost: a role with for_each converges, plans clean on
// the second run, lists an instance whose key left the map as no longer
// managed (and leaves it on the host), and a rollback of the run that
// created them undoes every instance.
func TestForEachOnARealHost(t *testing.T) {
	c := startCluster(t, []string{"h1"}, nil)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, map[string][]string{"h1": {"web"}}, ""); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "roles", "sites"), 0o755)
	os.WriteFile(filepath.Join(dir, "roles", "sites", "role.hcl"), []byte(sitesRole), 0o644)
	pb := filepath.Join(dir, "sites.hcl")
	os.WriteFile(pb, []byte(`play "sites" { hosts = "all"  roles = ["sites"] }`+"\n"), 0o644)
	const twoSites = `sites={ alpha = "Alpha site", beta = "Beta site" }`
	const state = "ls -R /srv 2>&1; cat /srv/sites/*/index.html 2>&1; id ann; id bob"

	plan := func(t *testing.T, extra ...string) run {
		t.Helper()
		return skiff(t, append([]string{"plan", "-i", inv, pb, "--output", "json"}, extra...)...)
	}
	apply := func(t *testing.T, extra ...string) run {
		t.Helper()
		return skiff(t, append([]string{"apply", "-i", inv, pb, "--yes", "--output", "json"}, extra...)...)
	}
	changes := func(r run) []string { // "action task"
		var out []string
		for _, h := range r.json.Hosts {
			for _, ch := range h.Changes {
				out = append(out, ch.Action+" "+ch.Task)
			}
		}
		sort.Strings(out)
		return out
	}
	pristine, _ := hostExec(t, c, "h1", state)

	var created string // the run id of the apply that converged
	t.Run("apply converges every instance, the second plan is clean", func(t *testing.T) {
		r := plan(t)
		want := []string{
			`create directory.root`,
			`create directory.site["alpha"]`, `create directory.site["beta"]`, `create directory.site["gamma"]`,
			`create file.index["alpha"]`, `create file.index["beta"]`, `create file.index["gamma"]`,
			`create user.site["ann"]`, `create user.site["bob"]`,
			`run handler.reload["alpha"]`, `run handler.reload["beta"]`, `run handler.reload["gamma"]`,
		}
		if r.code != 0 || strings.Join(changes(r), "\n") != strings.Join(want, "\n") {
			t.Fatalf("plan: exit %d\n%s\nwant\n%s", r.code, strings.Join(changes(r), "\n"), strings.Join(want, "\n"))
		}
		r = apply(t)
		if r.code != 0 || r.json.Summary.Changed != 1 {
			t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
		}
		created = r.json.RunID
		out, _ := hostExec(t, c, "h1", "cat /srv/sites/alpha/index.html /srv/sites/gamma/index.html; ls /srv; id -u ann >/dev/null && id -u bob >/dev/null && echo users")
		if want := "<h1>Alpha site</h1>\n<h1>Gamma site</h1>\nreloaded.alpha\nreloaded.beta\nreloaded.gamma\nsites\nusers\n"; out != want {
			t.Fatalf("host:\n%s\nwant\n%s", out, want)
		}
		if r := plan(t); r.code != 0 || len(changes(r)) != 0 {
			t.Fatalf("second plan: exit %d, %v", r.code, changes(r))
		}
	})

	t.Run("one changed instance notifies its own handler instance", func(t *testing.T) {
		hostExec(t, c, "h1", "echo drift > /srv/sites/beta/index.html; rm /srv/reloaded.*")
		r := apply(t)
		if got := strings.Join(changes(r), "\n"); r.code != 0 || got != "run handler.reload[\"beta\"]\nupdate file.index[\"beta\"]" {
			t.Fatalf("apply: exit %d\n%s", r.code, got)
		}
		if out, _ := hostExec(t, c, "h1", "ls /srv"); out != "reloaded.beta\nsites\n" {
			t.Fatalf("reloaded: %q", out)
		}
	})

	t.Run("a key removed from the map is no longer managed, not deleted", func(t *testing.T) {
		r := plan(t, "-e", twoSites)
		want := []string{`forget directory.site["gamma"]`, `forget file.index["gamma"]`}
		if r.code != 0 || strings.Join(changes(r), "\n") != strings.Join(want, "\n") {
			t.Fatalf("plan: exit %d\n%s\nwant\n%s", r.code, strings.Join(changes(r), "\n"), strings.Join(want, "\n"))
		}
		text := skiff(t, "plan", "-i", inv, pb, "-e", twoSites)
		if !strings.Contains(text.stdout, `. sites/sites file.index["gamma"]: no longer managed: left on the host as it is`) {
			t.Errorf("text plan:\n%s", text.stdout)
		}
		if r := skiff(t, "plan", "-i", inv, pb, "-e", twoSites, "--detailed-exitcode"); r.code != 2 {
			t.Errorf("plan --detailed-exitcode: exit %d, want 2", r.code)
		}
		if r := apply(t, "-e", twoSites); r.code != 0 || strings.Join(changes(r), "\n") != strings.Join(want, "\n") {
			t.Fatalf("apply: exit %d, %v", r.code, changes(r))
		}
		if out, code := hostExec(t, c, "h1", "cat /srv/sites/gamma/index.html"); code != 0 || out != "<h1>Gamma site</h1>\n" {
			t.Fatalf("gamma was touched: %q (exit %d)", out, code)
		}
		if r := plan(t, "-e", twoSites); r.code != 0 || len(changes(r)) != 0 {
			t.Fatalf("plan after the apply: %v", changes(r))
		}
	})

	t.Run("rollback of the run undoes every instance", func(t *testing.T) {
		r := skiff(t, "rollback", "-i", inv, "--run", created, "--yes", "--output", "json")
		if st, _, msg := r.json.host("h1"); r.code != 0 {
			t.Fatalf("rollback: exit %d, h1 %s: %s", r.code, st, msg)
		}
		var undone []string
		for _, ch := range r.json.Hosts[0].Changes {
			undone = append(undone, ch.Task)
		}
		sort.Strings(undone)
		for _, task := range []string{`directory.site["gamma"]`, `file.index["alpha"]`, `user.site["bob"]`, `command.reload["beta"]`} {
			if !strings.Contains(strings.Join(undone, " "), task) {
				t.Errorf("rollback did not undo %s: %v", task, undone)
			}
		}
		if now, _ := hostExec(t, c, "h1", state); now != pristine {
			t.Fatalf("after the rollback:\n%s\nwant as before the first run:\n%s", now, pristine)
		}
	})
}
