package config

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// Inputs that once crashed a loader are kept in testdata/fuzz/ and run
// with the unit tests. The fuzz targets below hold one contract: whatever the bytes, a loader
// returns diagnostics (each with a Subject inside a file) and never panics,
// and those diagnostics render without panicking.

// fuzzKinds mirrors the built-in task kinds (builtin imports modules that
// config must not depend on).
var fuzzKinds = map[string]bool{
	"package": true, "file": true, "template": true, "directory": true, "symlink": true,
	"service": true, "command": true, "user": true, "group": true, "ufw": true,
	"mysql_database": true, "mysql_user": true, "mysql_replication": true,
	"haproxy_server": true, "wait_http": true,
}

// addSeeds adds the repository's files matching pattern (relative to the
// repository root) and the hand-written extra inputs.
func addSeeds(f *testing.F, pattern string, extra ...string) {
	paths, err := filepath.Glob(filepath.Join("..", "..", pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed files for %s", pattern)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// checkDiags fails on an error diagnostic without a usable Subject, then
// renders all of them (which must not panic).
func checkDiags(t *testing.T, l *Loader, diags hcl.Diagnostics) {
	t.Helper()
	for _, d := range diags {
		if d == nil {
			t.Fatal("nil diagnostic")
		}
		if d.Severity != hcl.DiagError {
			continue
		}
		if d.Subject == nil || d.Subject.Filename == "" {
			t.Fatalf("error without a source range: %s: %s", d.Summary, d.Detail)
		}
	}
	WriteDiagnostics(io.Discard, diags, l.Files())
}

func FuzzLoadInventory(f *testing.F) {
	addSeeds(f, "inventory/*.hcl",
		"host \"a\" {\n  address = \"10.0.0.1\"\n}\n",
		"host \"a\" { address = \"10.0.0.1\"  port = 0  groups = [\"x\"] }\n",
		"defaults { vars = 1 }\nhost \"a\" { address = \"\" }\n",
		"group \"g\" { hosts = [\"nope\"] }\ngroup \"g\" {}\n",
		"secret \"s\" { env = \"A\"  file = \"b\" }\nsecret \"t\" {}\n",
		"host \"a\" {\n  address = \"x\n}\n",
		"host \"a\" {\n  address = \"x\"\n",
		"host \"a\" { address = [1] groups = \"web\" port = \"x\" }",
		"defaults {}\ndefaults {}\nhost \"a\" { address = \"${b}\" }\n",
		"\xff\xfe{ \t\"",
		"group \"g\" { hosts = [true ? null : \"a\"] }\nhost \"a\" { address = \"x\"  vars = { p = sensitive(1) } }\n",
	)
	dir := f.TempDir()
	p := filepath.Join(dir, "inv.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		if err := os.WriteFile(p, src, 0o644); err != nil {
			t.Fatal(err)
		}
		l := NewLoader()
		_, diags := l.LoadInventory(p)
		checkDiags(t, l, diags)
	})
}

func FuzzLoadRole(f *testing.F) {
	addSeeds(f, "roles/*/role.hcl",
		"variable \"v\" { default = 1  defualt = 2 }\n",
		"task \"template\" \"t\" {\n  source = \"x\"\n  nested {\n  }\n}\n",
		"task \"servic\" \"s\" { name = \"x\" }\n",
		"task \"command\" \"c\" { command = \"x\"  notify = [\"h\"] }\nhandler \"service\" \"h\" {}\nhandler \"service\" \"h\" {}\n",
		"task \"command\" \"c\" { notify = 1  if_changed = [1]  when = \"yes\" }\n",
		"task \"command\" \"c\" { notify = [null]  if_changed = null }\n",
		"task \"command\" \"c\" { if_changed = { a = 1 }  notify = { b = \"x\" } }\n",
		"task \"command\" \"c\" { notify = [for x in [1] : x] }\n",
		"task \"a\" {}\nvariable {}\n",
		"variable \"v\" { default = sensitive(1) }\ntask \"command\" \"c\" { notify = { a = \"h\" }  if_changed = { b = \"x\" } }\n",
	)
	dir := f.TempDir()
	p := filepath.Join(dir, "role.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		if err := os.WriteFile(p, src, 0o644); err != nil {
			t.Fatal(err)
		}
		l := NewLoader()
		_, diags := l.LoadRole("fuzz", dir, fuzzKinds)
		checkDiags(t, l, diags)
	})
}

func FuzzLoadPlaybook(f *testing.F) {
	addSeeds(f, "playbooks/*.hcl",
		"play \"a\" { hosts = \"all\"  roles = [\"ufw\"]  serial = -1 }\n",
		"play \"a\" { hosts = \"all\"  roles = [\"ufw\"]  serial = \"x\"  max_fail = \"x\" }\n",
		"play \"a\" { hosts = \"all\"  roles = [\"nope\"] }\nplay \"a\" { hosts = \"all\"  roles = [] }\n",
		"play \"a\" { hosts = \"web\"  roles = [\"ufw\"]  vars = [1]  serial = [1, 0] }\n",
		"play \"a\" { hosts = \"web\"  roles = [\"ufw\"]  serial = [null]  max_fail = 1e100 }\n",
		"play \"a\" { hosts = 1  roles = \"ufw\" }\n",
		"play \"a\" {\n  hosts = \"web\"\n",
		"play \"a\" { hosts = true ? null : \"web\"  roles = [true ? null : \"ufw\"] }\n",
	)
	dir := f.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "playbooks"), 0o755); err != nil {
		f.Fatal(err)
	}
	p := filepath.Join(dir, "playbooks", "fuzz.hcl")
	roles, err := filepath.Abs(filepath.Join("..", "..", "roles"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if err := os.WriteFile(p, src, 0o644); err != nil {
			t.Fatal(err)
		}
		l := NewLoader()
		_, diags := l.LoadPlaybook(p, []string{roles}, fuzzKinds)
		checkDiags(t, l, diags)
	})
}

func FuzzSplitOneLineBlocks(f *testing.F) {
	addSeeds(f, "playbooks/*.hcl",
		"play \"web\" { hosts = \"web\"  roles = [\"nginx\"]  serial = 1 }\n",
		"a { b = 1\tc = { d = 2  e = 3 }  f = \"${x} y\" }\n",
		"a {b = 1 c = 2}\n",
		"task \"x\" \"y\" { a = <<EOT\nz\nEOT\n}\n",
		"a { b = [for x in y : x]  c = (1)  d = f(1, 2) }",
		"}}}{{{",
	)
	f.Fuzz(func(t *testing.T, src []byte) {
		orig := append([]byte(nil), src...)
		out := splitOneLineBlocks(src, "fuzz.hcl")
		if !bytes.Equal(src, orig) {
			t.Fatal("the input was modified")
		}
		if len(out) != len(src) {
			t.Fatalf("length %d became %d", len(src), len(out))
		}
		for i := range out {
			if out[i] != src[i] && !(out[i] == '\n' && (src[i] == ' ' || src[i] == '\t')) {
				t.Fatalf("byte %d: %q became %q", i, src[i], out[i])
			}
		}
	})
}
