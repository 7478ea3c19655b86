package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// loadForEachRole loads src as roles/r/role.hcl.
func loadForEachRole(t *testing.T, src string) (*Role, hcl.Diagnostics, *Loader) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "r")
	writeFile(t, filepath.Join(dir, "role.hcl"), src)
	l := NewLoader()
	r, diags := l.LoadRole("r", dir, roleKinds)
	return r, diags, l
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The instances of a map are its keys, in order, each with its value; a
// set's instances have each.value == each.key.
func TestForEachExpandsMapsAndSets(t *testing.T) {
	r, diags, _ := loadForEachRole(t, `
variable "files" { default = { motd = "hello", issue = "welcome" } }
task "file" "map" {
  for_each = var.files
  path     = "/etc/${each.key}"
  content  = each.value
}
task "file" "set" {
  for_each = toset(["b", "a", "b"])
  path     = "/srv/${each.key}"
  content  = each.value
}
`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx := roleContext(r, nil)
	got := func(task *Task) string {
		insts, known, d := task.Instances(ctx)
		if d.HasErrors() || !known {
			t.Fatalf("%s: known=%v %v", task.ID(), known, d)
		}
		var out []string
		for _, in := range insts {
			c := EachContext(ctx, in)
			path, _ := task.Attrs["path"].Expr.Value(c)
			content, _ := task.Attrs["content"].Expr.Value(c)
			out = append(out, InstanceID(task.ID(), in.Key)+" "+path.AsString()+"="+content.AsString())
		}
		return strings.Join(out, "; ")
	}
	if g, want := got(r.Tasks[0]), `file.map["issue"] /etc/issue=welcome; file.map["motd"] /etc/motd=hello`; g != want {
		t.Errorf("map:\n got %s\nwant %s", g, want)
	}
	if g, want := got(r.Tasks[1]), `file.set["a"] /srv/a=a; file.set["b"] /srv/b=b`; g != want {
		t.Errorf("set:\n got %s\nwant %s", g, want)
	}
}

func TestSplitInstance(t *testing.T) {
	for ref, want := range map[string]string{
		`file.conf["a"]`:       `file.conf|a|true|true`,
		`app/file.conf["a.b"]`: `app/file.conf|a.b|true|true`,
		`file.conf`:            `file.conf||false|true`,
		`restart["x\"y"]`:      `restart|x"y|true|true`,
		`file.conf[a]`:         `file.conf[a]||true|false`,
		`file.conf["a"`:        `file.conf["a"||true|false`,
	} {
		base, key, hasKey, ok := SplitInstance(ref)
		if g := strings.Join([]string{base, key, boolString(hasKey), boolString(ok)}, "|"); g != want {
			t.Errorf("SplitInstance(%s) = %s, want %s", ref, g, want)
		}
	}
	if got := InstanceID("file.conf", `a"b`); got != `file.conf["a\"b"]` {
		t.Errorf("InstanceID: %s", got)
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// Mistakes a role can make with for_each are diagnostics at their file,
// line and column, in text and JSON.
func TestForEachDiagnostics(t *testing.T) {
	cases := []struct {
		name, src string
		summary   string
		line, col int
	}{
		{"each without for_each", `
task "file" "motd" {
  path = "/etc/${each.key}"
}
`, "each without for_each", 3, 18},
		{"each in when of a task without for_each", `
task "file" "motd" {
  path = "/etc/motd"
  when = each.value == "x"
}
`, "each without for_each", 4, 10},
		{"an attribute each does not have", `
task "file" "motd" {
  for_each = toset(["a"])
  path     = "/etc/${each.name}"
}
`, "Unsupported attribute", 4, 22},
		{"for_each reads each", `
task "file" "motd" {
  for_each = each.value
  path     = "/etc/motd"
}
`, "Invalid for_each", 3, 14},
		{"a key written twice in a map", `
task "file" "motd" {
  for_each = {
    a = "1"
    a = "2"
  }
  path = "/etc/${each.key}"
}
`, "Duplicate for_each key", 5, 5},
		{"notify an instance of a handler without for_each", `
task "file" "motd" {
  path   = "/etc/motd"
  notify = ["restart[\"a\"]"]
}
handler "service" "restart" { name = "x" }
`, "Invalid notify", 4, 13},
		{"notify an unknown handler's instance", `
task "file" "motd" {
  path   = "/etc/motd"
  notify = ["restrat[\"a\"]"]
}
handler "service" "restart" {
  for_each = toset(["a"])
  name     = each.key
}
`, "Unknown handler", 4, 13},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags, l := loadForEachRole(t, c.src)
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			d := diags[0]
			if d.Summary != c.summary || d.Subject == nil || d.Subject.Start.Line != c.line || d.Subject.Start.Column != c.col {
				t.Fatalf("got %s at %v, want %s at %d:%d", d.Summary, d.Subject, c.summary, c.line, c.col)
			}
			var text bytes.Buffer
			WriteDiagnostics(&text, diags[:1], l.Files())
			if !strings.Contains(text.String(), "role.hcl:"+itoa(c.line)+":"+itoa(c.col)+": error: "+c.summary) {
				t.Errorf("text: %s", text.String())
			}
			j := DiagnosticsJSON(diags[:1])
			if j[0].Range == nil || j[0].Range.Line != c.line || j[0].Range.Column != c.col || j[0].Summary != c.summary {
				t.Errorf("json: %+v", j[0])
			}
		})
	}
}

// A for_each of the wrong type, with a repeated key, or reading what does
// not exist fails where it is evaluated (for each host), at its range.
func TestForEachValueDiagnostics(t *testing.T) {
	r, diags, _ := loadForEachRole(t, `
variable "n" { default = 3 }
task "file" "number" {
  for_each = var.n
  path     = "/etc/${each.key}"
}
task "file" "numbers" {
  for_each = [1, 2]
  path     = "/etc/${each.key}"
}
task "file" "repeated" {
  for_each = ["a", "b", "a"]
  path     = "/etc/${each.key}"
}
task "file" "unknown" {
  for_each = var.nope
  path     = "/etc/${each.key}"
}
task "file" "null" {
  for_each = null
  path     = "/etc/${each.key}"
}
task "file" "secret" {
  for_each = toset([var.s])
  path     = "/etc/${each.key}"
}
`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx := roleContext(r, map[string]cty.Value{"s": cty.StringVal("x").Mark("secret")})
	want := map[string]string{
		"number":   `4:14 Invalid for_each: for_each must be a map, or a set or list of strings, not a number.`,
		"numbers":  `8:14 Invalid for_each: A set or list in for_each holds strings only; element 0 is a number`,
		"repeated": `12:25 Duplicate for_each key: "a" appears twice in for_each`,
		"unknown":  `16:17 Unknown variable: There is no variable named "nope".`,
		"null":     `20:14 Invalid for_each: for_each must be a map, or a set or list of strings, not null.`,
		"secret":   `24:14 Invalid for_each: for_each names the instances in plans and journals: its keys cannot come from a secret.`,
	}
	for _, task := range r.Tasks {
		_, _, d := task.Instances(ctx)
		d = Explain(d)
		if !d.HasErrors() {
			t.Errorf("%s: no error", task.Name)
			continue
		}
		got := itoa(d[0].Subject.Start.Line) + ":" + itoa(d[0].Subject.Start.Column) + " " + d[0].Summary + ": " + d[0].Detail
		if !strings.HasPrefix(got, want[task.Name]) {
			t.Errorf("%s:\n got %s\nwant %s…", task.Name, got, want[task.Name])
		}
	}
}

// An if_changed reference may name one instance of a task with for_each,
// and only of such a task.
func TestIfChangedNamesInstances(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "roles/r/role.hcl"), `
task "file" "conf" {
  for_each = toset(["a", "b"])
  path     = "/etc/${each.key}"
}
task "file" "plain" { path = "/etc/plain" }
task "service" "after_a" {
  name       = "x"
  if_changed = ["file.conf[\"a\"]", "r/file.conf[\"b\"]", "file.conf"]
}
task "service" "bad" {
  name       = "x"
  if_changed = ["file.plain[\"a\"]"]
}
`)
	writeFile(t, filepath.Join(dir, "playbooks/p.hcl"), `play "p" { hosts = "all"  roles = ["r"] }`)
	_, diags := NewLoader().LoadPlaybook(filepath.Join(dir, "playbooks/p.hcl"), nil, roleKinds)
	if len(diags) != 1 || diags[0].Summary != "Invalid task reference" || diags[0].Subject.Start.Line != 13 {
		t.Fatalf("want one error at line 13 for file.plain[\"a\"], got %v", diags)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
