package lineinfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/fileedit"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func build(t *testing.T, vals map[string]cty.Value) module.Module {
	t.Helper()
	return moduletest.MustBuild(t, New, moduletest.Args("line_in_file", "t", vals))
}

func args(p string, kv ...string) map[string]cty.Value {
	vals := map[string]cty.Value{"path": cty.StringVal(p)}
	for i := 0; i+1 < len(kv); i += 2 {
		vals[kv[i]] = cty.StringVal(kv[i+1])
	}
	return vals
}

// TestEdits: each case starts from a file's content, converges (apply,
// then a second check finds nothing) and compares the file with what a
// user expects, and the plan line with what it promised.
func TestEdits(t *testing.T) {
	sshd := "#PermitRootLogin prohibit-password\nPort 22\nPermitRootLogin yes\nMatch User backup\n  PermitRootLogin yes\n"
	for _, tc := range []struct {
		name, before string
		kv           []string
		after        string
		summary      string // substring
	}{
		{"replace the last of several matches", sshd, []string{"regexp", "^#?PermitRootLogin ", "line", "PermitRootLogin no"},
			"#PermitRootLogin prohibit-password\nPort 22\nPermitRootLogin no\nMatch User backup\n  PermitRootLogin yes\n", "replace line 3"},
		{"no match appends", "a\nb\n", []string{"regexp", "^c", "line", "c=1"}, "a\nb\nc=1\n", "add line 3 at the end"},
		{"insert_after the last match", "x=1\ny=1\nx=2\nz=1\n", []string{"line", "x=3", "insert_after", "^x="}, "x=1\ny=1\nx=2\nx=3\nz=1\n", "insert line 4"},
		{"insert_before the first match", sshd, []string{"line", "AllowUsers deploy", "insert_before", "^Match "},
			"#PermitRootLogin prohibit-password\nPort 22\nPermitRootLogin yes\nAllowUsers deploy\nMatch User backup\n  PermitRootLogin yes\n", "insert line 4"},
		{"insert_before BOF", "a\n", []string{"line", "first", "insert_before", "BOF"}, "first\na\n", "insert line 1"},
		{"insert_after EOF", "a\n", []string{"line", "last", "insert_after", "EOF"}, "a\nlast\n", "add line 2"},
		{"insert_after without a match goes to the end", "a\n", []string{"line", "b", "insert_after", "^nothing"}, "a\nb\n", "add line 2"},
		{"no trailing newline: the last line gets one", "a\nb", []string{"line", "c"}, "a\nb\nc\n", "add line 3"},
		{"no trailing newline kept on a replaced last line", "a\nkey=1", []string{"regexp", "^key=", "line", "key=2"}, "a\nkey=2", "replace line 2"},
		{"CRLF kept, and used for the new line", "a\r\nb\r\n", []string{"line", "c"}, "a\r\nb\r\nc\r\n", "add line 3"},
		{"CRLF: a regexp matches the line without its CR", "key=1\r\nb\r\n", []string{"regexp", "^key=1$", "line", "key=2"}, "key=2\r\nb\r\n", "replace line 1"},
		{"empty file", "", []string{"line", "a"}, "a\n", "add line 1"},
		{"absent removes every match", sshd, []string{"regexp", "PermitRootLogin", "state", "absent"}, "Port 22\nMatch User backup\n", "remove 3 line(s)"},
		{"absent by the line's text", "a\nb\na\n", []string{"line", "a", "state", "absent"}, "b\n", "remove 2 line(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f.conf")
			if err := os.WriteFile(p, []byte(tc.before), 0o640); err != nil {
				t.Fatal(err)
			}
			ch := moduletest.Converge(t, func() module.Module { return build(t, args(p, tc.kv...)) })
			got, _ := os.ReadFile(p)
			if string(got) != tc.after {
				t.Errorf("file = %q, want %q", got, tc.after)
			}
			if ch.Action != plan.Update || !strings.Contains(ch.Summary, tc.summary) || !strings.HasPrefix(ch.Summary, "update "+p+": ") {
				t.Errorf("change = %s %q, want %q", ch.Action, ch.Summary, tc.summary)
			}
			if !strings.Contains(ch.Diff, "--- "+p+" (on host)") {
				t.Errorf("no diff:\n%s", ch.Diff)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v, want the file's own 0640 kept", fi.Mode())
			}
		})
	}
}

func TestNothingToDo(t *testing.T) {
	for _, tc := range []struct {
		name, before string
		kv           []string
	}{
		{"line present, no regexp", "a\nb\n", []string{"line", "b"}},
		{"regexp's last match is the line", "k=1\nk=2\n", []string{"regexp", "^k=", "line", "k=2"}},
		{"regexp matches nothing but the line is there", "k = 2\n", []string{"regexp", "^k=", "line", "k = 2"}},
		{"absent and not there", "a\n", []string{"line", "b", "state", "absent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, []byte(tc.before), 0o644)
			if ch := moduletest.Check(t, build(t, args(p, tc.kv...))); ch != nil {
				t.Errorf("unexpected change %+v", *ch)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "new.conf")

	t.Run("without create: planned, fails at apply", func(t *testing.T) {
		m := build(t, args(p, "line", "a"))
		ch := moduletest.Check(t, m)
		if ch == nil || !strings.Contains(ch.Summary, "does not exist yet") {
			t.Fatalf("change = %+v", ch)
		}
		err := m.Apply(context.Background(), &transporttest.Local{})
		if err == nil || !strings.Contains(err.Error(), "create = true") {
			t.Fatalf("apply error = %v", err)
		}
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Fatal("apply created the file")
		}
	})
	t.Run("absent: nothing to remove", func(t *testing.T) {
		if ch := moduletest.Check(t, build(t, args(p, "line", "a", "state", "absent"))); ch != nil {
			t.Fatalf("change = %+v", *ch)
		}
	})
	t.Run("with create", func(t *testing.T) {
		vals := args(p, "line", "a", "mode", "0600")
		vals["create"] = cty.True
		ch := moduletest.Converge(t, func() module.Module { return build(t, vals) })
		if ch.Action != plan.Create || ch.Summary != "create "+p+": add line 1 at the end" {
			t.Errorf("change = %s %q", ch.Action, ch.Summary)
		}
		if got := moduletest.PathState(t, p); !strings.HasSuffix(got, ` 0600 `+ids()+` "a\n"`+"\n") {
			t.Errorf("file = %s", got)
		}
	})
}

// ids is this process's uid:gid as PathState prints them.
func ids() string { return fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()) }

// TestFileChangedSinceProbe: a file written by someone else between the
// probe and the apply is not overwritten with an edit of its old content.
func TestFileChangedSinceProbe(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("a\n"), 0o644)
	m := build(t, args(p, "line", "b"))
	if ch := moduletest.Check(t, m); ch == nil {
		t.Fatal("no change")
	}
	os.WriteFile(p, []byte("a\nwritten meanwhile\n"), 0o644)
	err := m.Apply(context.Background(), &transporttest.Local{})
	if !errors.Is(err, fileedit.ErrChanged) {
		t.Fatalf("apply error = %v, want fileedit.ErrChanged", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "a\nwritten meanwhile\n" {
		t.Errorf("file = %q", got)
	}
	noTemps(t, filepath.Dir(p))
}

func TestValidateRejects(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("a\n"), 0o644)
	vals := args(p, "line", "bad", "validate", "grep -q good %s")
	m := build(t, vals)
	moduletest.Check(t, m)
	err := m.Apply(context.Background(), &transporttest.Local{})
	if err == nil || !strings.Contains(err.Error(), "rejected the new content, the file is unchanged") {
		t.Fatalf("apply error = %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "a\n" {
		t.Errorf("file = %q", got)
	}
	noTemps(t, filepath.Dir(p))

	vals["validate"] = cty.StringVal("grep -q '^bad$' %s")
	moduletest.Converge(t, func() module.Module { return build(t, vals) })
}

func TestRefusesWhatIsNotATextFile(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	os.Symlink("/etc/hostname", link)
	bin := filepath.Join(dir, "bin")
	os.WriteFile(bin, []byte("a\x00b\n"), 0o644)
	for p, want := range map[string]string{link: "is a symbolic link, not a regular file", dir: "is a directory", bin: "not a text file"} {
		m := build(t, args(p, "line", "x"))
		if _, err := m.Check(moduletest.Probe(t, m)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", p, err, want)
		}
	}
}

func TestUndo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before *string
		kv     []string
		create bool
	}{
		{name: "edit", before: ptr("a\nk=1\n"), kv: []string{"regexp", "^k=", "line", "k=2", "mode", "0600"}},
		{name: "created", kv: []string{"line", "a"}, create: true},
		{name: "removed lines", before: ptr("a\nb\n"), kv: []string{"line", "a", "state", "absent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			if tc.before != nil {
				os.WriteFile(p, []byte(*tc.before), 0o640)
			}
			before := moduletest.PathState(t, p)
			vals := args(p, tc.kv...)
			if tc.create {
				vals["create"] = cty.True
			}
			m := build(t, vals)
			if ch := moduletest.Check(t, m); ch == nil {
				t.Fatal("no change")
			}
			backup, undo, after := moduletest.Reversal(t, m, filepath.Join(t.TempDir(), "runs", "1"))
			if undo == "" || after != "" {
				t.Fatalf("undo %q, after %q", undo, after)
			}
			moduletest.MustRunFragment(t, "backup", backup)
			if err := m.Apply(context.Background(), &transporttest.Local{}); err != nil {
				t.Fatal(err)
			}
			if moduletest.PathState(t, p) == before {
				t.Fatal("apply changed nothing")
			}
			for i := range 2 {
				moduletest.MustRunFragment(t, "undo", undo)
				if got := moduletest.PathState(t, p); got != before {
					t.Fatalf("after undo #%d:\n%s\nwant:\n%s", i+1, got, before)
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestArgumentErrors(t *testing.T) {
	str := cty.StringVal
	for _, tc := range []struct {
		vals map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{"path": str("/etc/x")}, `needs the argument "line"`},
		{map[string]cty.Value{"path": str("etc/x"), "line": str("a")}, "must be an absolute path"},
		{map[string]cty.Value{"path": str("/etc/x"), "line": str("a\nb")}, "must be one line"},
		{map[string]cty.Value{"path": str("/etc/x"), "line": str("a"), "regexp": str("(")}, "not a valid regular expression"},
		{map[string]cty.Value{"path": str("/etc/x"), "line": str("a"), "insert_after": str("^a"), "insert_before": str("^b")}, "not both"},
		{map[string]cty.Value{"path": str("/etc/x"), "line": str("a"), "insert_after": str("BOF")}, `insert_before = "BOF"`},
		{map[string]cty.Value{"path": str("/etc/x"), "state": str("absent")}, "give the regexp of the lines to remove"},
		{map[string]cty.Value{"path": str("/etc/x"), "state": str("gone"), "line": str("a")}, "must be one of"},
		{map[string]cty.Value{"path": str("/etc/x"), "line": str("a"), "validate": str("sshd -t")}, "%s"},
		{map[string]cty.Value{"path": str("/etc/x"), "line": secret.Wrap(str("password=hunter2"))}, "must not derive from a secret"},
	} {
		_, diags := moduletest.Build(New, moduletest.Args("line_in_file", "t", tc.vals))
		moduletest.DiagsContain(t, diags, tc.want)
	}
}

// noTemps fails when a placement left anything of its own in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".skiff-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
