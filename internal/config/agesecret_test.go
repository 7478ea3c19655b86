package config

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/hashicorp/hcl/v2"
)

// Plaintext of the test secrets file; every value must stay out of messages.
const agePlain = "# database\n" +
	"app_db_password=p@ss=word with spaces \n" +
	"\n" +
	"  sumo_access_key =K3y#not-a-comment\r\n" +
	"mysql_root_password=r00t-Secret\n"

var ageValues = []string{"p@ss=word with spaces ", "K3y#not-a-comment", "r00t-Secret"}

// newIdentity writes a fresh X25519 identity to dir/name and returns it.
func newIdentity(t *testing.T, dir, name string) (*age.X25519Identity, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("# created by the test\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return id, p
}

// encrypt writes plain, encrypted to id, to dir/name (armored if asked).
func encrypt(t *testing.T, dir, name, plain string, id *age.X25519Identity, armored bool) {
	t.Helper()
	var buf bytes.Buffer
	var out io.Writer = &buf
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&buf)
		out = aw
	}
	w, err := age.Encrypt(out, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// loadInv writes an inventory with one host and the given secret blocks.
func loadInv(t *testing.T, dir, secrets string) (*Inventory, hcl.Diagnostics) {
	t.Helper()
	p := filepath.Join(dir, "inv.hcl")
	src := "host \"web1\" { address = \"10.0.0.1\" }\n" + secrets
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return NewLoader().LoadInventory(p)
}

// noPlaintext fails if a diagnostic quotes a decrypted value.
func noPlaintext(t *testing.T, diags hcl.Diagnostics) {
	t.Helper()
	for _, d := range diags {
		for _, v := range ageValues {
			if strings.Contains(d.Summary+d.Detail, strings.TrimSpace(v)) {
				t.Errorf("diagnostic shows a secret value: %s: %s", d.Summary, d.Detail)
			}
		}
	}
}

func TestAgeSecrets(t *testing.T) {
	dir := t.TempDir()
	id, idPath := newIdentity(t, dir, "age.key")
	encrypt(t, dir, "secrets.age", agePlain, id, false)
	encrypt(t, dir, "armored.age", "app_db_password=armored\n", id, true)
	t.Setenv(AgeIdentityEnv, "")
	inv, diags := loadInv(t, dir, `
secret "app_db_password" {
  age      = "secrets.age"
  identity = "age.key"
}
secret "sumo" {
  age      = "secrets.age"
  key      = "sumo_access_key"
  identity = "`+idPath+`"
}
secret "mysql_root_password" {
  age      = "secrets.age"
  identity = "age.key"
}
secret "armored" {
  age      = "armored.age"
  key      = "app_db_password"
  identity = "age.key"
}
`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got, diags := inv.ResolveSecrets(nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := map[string]string{
		"app_db_password":     "p@ss=word with spaces ",
		"sumo":                "K3y#not-a-comment",
		"mysql_root_password": "r00t-Secret",
		"armored":             "armored",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// The same file and identity decrypt once: the cache answers even
	// when the file is gone.
	if len(inv.ages) != 2 { // secrets.age (two spellings of one identity path), armored.age
		t.Errorf("decrypted %d times, want 2", len(inv.ages))
	}
	if err := os.Remove(filepath.Join(dir, "secrets.age")); err != nil {
		t.Fatal(err)
	}
	if again, diags := inv.ResolveSecrets(nil); diags.HasErrors() || again["sumo"] != want["sumo"] {
		t.Fatalf("second resolve: %v %v", again, diags)
	}
}

func TestAgeIdentityDefaults(t *testing.T) {
	dir := t.TempDir()
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.MkdirAll(filepath.Join(home, ".config", "skiff"), 0o700); err != nil {
		t.Fatal(err)
	}
	def, _ := newIdentity(t, filepath.Join(home, ".config", "skiff"), "age.key")
	envID, envPath := newIdentity(t, dir, "env.key")
	encrypt(t, dir, "default.age", "a=from-default\n", def, false)
	encrypt(t, dir, "env.age", "a=from-env\n", envID, false)

	inv, diags := loadInv(t, dir, `secret "a" { age = "default.age" }`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	t.Setenv(AgeIdentityEnv, "")
	if got, diags := inv.ResolveSecrets(nil); diags.HasErrors() || got["a"] != "from-default" {
		t.Fatalf("default identity: %v %v", got, diags)
	}

	inv, _ = loadInv(t, dir, `secret "a" { age = "env.age" }`)
	t.Setenv(AgeIdentityEnv, envPath)
	if got, diags := inv.ResolveSecrets(nil); diags.HasErrors() || got["a"] != "from-env" {
		t.Fatalf("$%s: %v %v", AgeIdentityEnv, got, diags)
	}
}

func TestAgeSecretErrors(t *testing.T) {
	dir := t.TempDir()
	id, _ := newIdentity(t, dir, "age.key")
	other, _ := newIdentity(t, dir, "other.key")
	_ = other
	encrypt(t, dir, "secrets.age", agePlain, id, false)
	encrypt(t, dir, "bad.age", "ok=1\nr00t-Secret\n", id, false)
	if err := os.WriteFile(filepath.Join(dir, "junk.key"), []byte("AGE-SECRET-KEY-1NOTAKEY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", t.TempDir()) // no default identity
	t.Setenv(AgeIdentityEnv, "")
	cases := []struct {
		name, block string
		want        []string
	}{
		{"file missing", `age = "nope.age"  identity = "age.key"`,
			[]string{"Missing secret", "cannot open the age file", "nope.age", "no such file"}},
		{"identity missing", `age = "secrets.age"  identity = "nokey.txt"`,
			[]string{"Missing age identity", filepath.Join(dir, "nokey.txt"), "the secret's identity argument", `identity = "PATH"`, "$SKIFF_AGE_IDENTITY"}},
		{"default identity missing", `age = "secrets.age"`,
			[]string{"Missing age identity", filepath.Join(".config", "skiff", "age.key"), "(the default)", "$SKIFF_AGE_IDENTITY"}},
		{"identity unreadable", `age = "secrets.age"  identity = "."`,
			[]string{"Invalid age identity", "is not an age identity file"}},
		{"identity not a key", `age = "secrets.age"  identity = "junk.key"`,
			[]string{"Invalid age identity", "junk.key", "error at line 1", "AGE-SECRET-KEY-1"}},
		{"wrong identity", `age = "secrets.age"  identity = "other.key"`,
			[]string{"Wrong age identity", "no identity matched", "secrets.age", "other.key"}},
		{"not an age file", `age = "age.key"  identity = "age.key"`,
			[]string{"Cannot decrypt secret", "age.key"}},
		{"key not in the file", `age = "secrets.age"  key = "sumo_access_id"  identity = "age.key"`,
			[]string{"Missing secret", `has no entry "sumo_access_id"`, "its entries are app_db_password, mysql_root_password, sumo_access_key"}},
		{"malformed plaintext", `age = "bad.age"  identity = "age.key"`,
			[]string{"Invalid secrets file", "line 2 is not name=value"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv, diags := loadInv(t, dir, `secret "s" { `+c.block+` }`)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got, diags := inv.ResolveSecrets(nil)
			if !diags.HasErrors() || len(got) != 0 {
				t.Fatalf("got %v, %v", got, diags)
			}
			d := diags[0]
			if d.Subject == nil || d.Subject.Start.Line != 2 || d.Subject.Start.Column != 1 {
				t.Errorf("subject %v, want the secret block (line 2)", d.Subject)
			}
			msg := d.Summary + ": " + d.Detail
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			noPlaintext(t, diags)
		})
	}
}

func TestSecretBlockArguments(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ block, want string }{
		{`env = "A"  age = "s.age"`, `sets env and age: it needs exactly one of env, file or age`},
		{`env = "A"  file = "f"  age = "s.age"`, `sets env and file and age`},
		{``, `needs one of env, file or age`},
		{`key = "k"`, `needs one of env, file or age`},
		{`env = "A"  key = "k"`, `key and identity apply only to an age secret`},
		{`file = "f"  identity = "i"`, `key and identity apply only to an age secret`},
		{`age = ""`, `age is empty`},
		{`age = "s.age"  recipient = "x"`, `An argument named "recipient" is not expected here`},
	}
	for _, c := range cases {
		_, diags := loadInv(t, dir, `secret "s" { `+c.block+` }`)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.block, diags, c.want)
		}
	}
}

func TestParseEntries(t *testing.T) {
	got, err := parseEntries([]byte(agePlain))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["sumo_access_key"] != "K3y#not-a-comment" || got["app_db_password"] != "p@ss=word with spaces " {
		t.Errorf("entries: %q", got)
	}
	for src, want := range map[string]string{
		"a=1\na=2\n":     `line 2 sets "a" again (first set at line 1)`,
		"=x\n":           "line 1 has no name before =",
		"# c\nhunter2\n": "line 2 is not name=value",
	} {
		_, err := parseEntries([]byte(src))
		if err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the line: %v", err)
		}
	}
}
