package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// loadTagSite writes a playbook and role "r" (and role "s"), and loads them.
func loadTagSite(t *testing.T, playbook, role string) (*Playbook, string, error) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"playbooks/site.hcl": playbook,
		"roles/r/role.hcl":   role,
		"roles/s/role.hcl":   `task "command" "other" { command = "true" }`,
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pbPath := filepath.Join(dir, "playbooks/site.hcl")
	pb, diags := NewLoader().LoadPlaybook(pbPath, nil, roleKinds)
	if diags.HasErrors() {
		return pb, dir, diags
	}
	return pb, dir, nil
}

const tagRole = `
task "command" "cert" {
  command = "true"
  tags    = ["tls", "certs"]
}
task "command" "one_tag" {
  command = "true"
  tags    = "config"
}
task "command" "plain" { command = "true" }
handler "command" "h" { command = "true" }
`

// A task's tags are its own, its role's in the play, and the play's.
func TestTagsOfTasksRolesAndPlays(t *testing.T) {
	pb, _, err := loadTagSite(t, `
play "web" {
  hosts = "all"
  roles = [{ name = "r", tags = ["web"] }, "s"]
  tags  = ["site"]
}
play "again" {
  hosts = "all"
  roles = ["r"]
}
`, tagRole)
	if err != nil {
		t.Fatal(err)
	}
	web, again := pb.Plays[0], pb.Plays[1]
	if !reflect.DeepEqual(web.Roles, []string{"r", "s"}) {
		t.Fatalf("roles %q", web.Roles)
	}
	r := pb.Roles["r"]
	cases := []struct {
		play *Play
		task *Task
		want []string
	}{
		{web, r.Tasks[0], []string{"tls", "certs", "web", "site"}},
		{web, r.Tasks[1], []string{"config", "web", "site"}},
		{web, r.Tasks[2], []string{"web", "site"}},
		{web, pb.Roles["s"].Tasks[0], []string{"site"}},
		{again, r.Tasks[0], []string{"tls", "certs"}},
		{again, r.Tasks[2], nil},
	}
	for _, c := range cases {
		if got := c.play.TaskTags(c.task); !reflect.DeepEqual(got, c.want) {
			t.Errorf("play %s, %s: tags %q, want %q", c.play.Name, c.task.ID(), got, c.want)
		}
	}
	if got, want := pb.Tags(), []string{"certs", "config", "site", "tls", "web"}; !reflect.DeepEqual(got, want) {
		t.Errorf("playbook tags %q, want %q", got, want)
	}

	sel := func(f TagFilter, p *Play, task *Task) bool { return f.Selects(p, task) }
	if !sel(TagFilter{}, again, r.Tasks[2]) {
		t.Errorf("no filter: a task without tags is not selected")
	}
	if !sel(TagFilter{Only: []string{"tls"}}, again, r.Tasks[0]) || sel(TagFilter{Only: []string{"tls"}}, again, r.Tasks[1]) {
		t.Errorf("--tags tls selects the wrong tasks")
	}
	if !sel(TagFilter{Only: []string{"web"}}, web, r.Tasks[2]) || sel(TagFilter{Only: []string{"web"}}, again, r.Tasks[2]) {
		t.Errorf("--tags web: the role's tag must hold in its play only")
	}
	if sel(TagFilter{Only: []string{"site"}, Skip: []string{"certs"}}, web, r.Tasks[0]) || !sel(TagFilter{Only: []string{"site"}, Skip: []string{"certs"}}, web, r.Tasks[1]) {
		t.Errorf("--skip-tags must win over --tags")
	}
	if !sel(TagFilter{Skip: []string{"tls"}}, again, r.Tasks[2]) || sel(TagFilter{Skip: []string{"tls"}}, again, r.Tasks[0]) {
		t.Errorf("--skip-tags alone selects the wrong tasks")
	}
}

// A tag from the command line that the playbook gives nowhere is an error,
// with the likely one.
func TestCheckTags(t *testing.T) {
	pb, _, err := loadTagSite(t, `play "web" {
  hosts = "all"
  roles = ["r"]
}`, tagRole)
	if err != nil {
		t.Fatal(err)
	}
	if err := pb.CheckTags(TagFilter{Only: []string{"tls", "config"}, Skip: []string{"certs"}}); err != nil {
		t.Errorf("known tags refused: %v", err)
	}
	err = pb.CheckTags(TagFilter{Only: []string{"tls"}, Skip: []string{"cert"}})
	if err == nil || !strings.Contains(err.Error(), "--skip-tags cert: no task, role or play of") || !strings.Contains(err.Error(), `Did you mean "certs"?`) {
		t.Errorf("unknown tag: %v", err)
	}
	err = pb.CheckTags(TagFilter{Only: []string{"handler"}})
	if err == nil || !strings.Contains(err.Error(), "its tags: certs, config, tls") {
		t.Errorf("unknown tag: %v", err)
	}
}

// Bad tags are errors at their place.
func TestTagsRefused(t *testing.T) {
	play := func(roles, tags string) string {
		return "play \"web\" {\n  hosts = \"all\"\n  roles = " + roles + "\n  tags = " + tags + "\n}\n"
	}
	cases := []struct {
		name, playbook, role, file, want string
		line                             int
	}{
		{"play tag not a word", play(`["r"]`, `["a b"]`), tagRole, "site.hcl", `"a b" is not a tag`, 4},
		{"play tags a number", play(`["r"]`, `5`), tagRole, "site.hcl", "tags is a list of tags", 4},
		{"role object without name", play(`[{ tags = ["x"] }]`, `[]`), tagRole, "site.hcl", "needs a name", 3},
		{"role object misspelt", play(`[{ name = "r", tag = ["x"] }]`, `[]`), tagRole, "site.hcl", `Did you mean "tags"?`, 3},
		{"roles a number", play(`[1]`, `[]`), tagRole, "site.hcl", "element 1 is a number", 3},
		{"task tag empty", play(`["r"]`, `[]`), "task \"command\" \"x\" {\n  command = \"true\"\n  tags = [\"\"]\n}\n", "role.hcl", `"" is not a tag`, 3},
		{"handler tags", play(`["r"]`, `[]`), "handler \"command\" \"x\" {\n  command = \"true\"\n  tags = [\"a\"]\n}\n", "role.hcl", "give the tags to the tasks that notify it", 3},
	}
	for _, c := range cases {
		_, dir, err := loadTagSite(t, c.playbook, c.role)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		file := filepath.Join(dir, "playbooks", c.file)
		if c.file == "role.hcl" {
			file = filepath.Join(dir, "playbooks", "..", "roles", "r", "role.hcl")
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) || !strings.Contains(msg, file+":"+string(rune('0'+c.line))+",") {
			t.Errorf("%s: %q does not say %q at %s:%d", c.name, msg, c.want, file, c.line)
		}
	}
}
