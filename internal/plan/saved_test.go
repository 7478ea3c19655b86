package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func onePlan(c Change) *Plan {
	return &Plan{Hosts: []*Host{{Name: "web1", Status: StatusChanged, Changes: []Change{c}}}}
}

// A change whose diff is hidden (sensitive or binary content) reads the
// same in both plans; only its content digest tells that the content
// changed, and the mismatch names the content's source.
func TestCompareRefusesContentTheSavedPlanDidNotSee(t *testing.T) {
	key := PlanContentKey([]byte("site key"), "nonce")
	change := func(content string, source string) Change {
		c := Change{Play: "web", Role: "app", Task: "file.binary", Action: Create,
			Summary: "create /opt/app/bin (binary content)"}
		if source != "" {
			c.Content = &Content{Source: source, Digest: key.Digest(sha(content))}
		}
		return c
	}
	cases := []struct {
		name         string
		saved, fresh Change
		want         string // "" for no mismatch
	}{
		{"same content", change("v1", "bin/app"), change("v1", "bin/app"), ""},
		{"changed content", change("v1", "bin/app"), change("v2", "bin/app"),
			"web/app file.binary: planned create (create /opt/app/bin (binary content)), now the same change, but the content from bin/app differs from what the plan saw"},
		{"content the plan did not write", change("v1", ""), change("v1", "bin/app"), "writes content from bin/app that the plan did not"},
		{"content the plan wrote, now none", change("v1", "bin/app"), change("v1", ""), "no longer writes the content the plan saw from bin/app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Compare(onePlan(tc.saved), onePlan(tc.fresh))["web1"]
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("mismatch %v, want none", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0].String(), tc.want)):
				t.Errorf("mismatch %v, want one saying %q", got, tc.want)
			}
		})
	}
}

// A saved plan holds neither a secret nor its plain sha256 (which a short
// secret could be guessed back from): its digests are keyed with a key
// kept out of the plan, and differ from plan to plan.
func TestSavedPlanKeepsSecretContentSecret(t *testing.T) {
	dir := t.TempDir()
	siteKey, err := ReadSiteKey(filepath.Join(dir, ".skiff", "plan.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	secret := "hunter2\n"
	var digests []string
	for _, name := range []string{"one.plan", "two.plan"} {
		nonce, err := NewContentNonce()
		if err != nil {
			t.Fatal(err)
		}
		c := Change{Play: "p", Role: "r", Task: "file.pw", Action: Create, Summary: "create /etc/pw (content sensitive)", Sensitive: true,
			Content: &Content{Source: "files/pw", Digest: PlanContentKey(siteKey, nonce).Digest(sha(secret))}}
		path := filepath.Join(dir, name)
		if err := WriteSaved(path, &Saved{ContentNonce: nonce, Plan: onePlan(c)}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{"hunter2", sha(secret), hex.EncodeToString(siteKey)} {
			if bytes.Contains(b, []byte(leak)) {
				t.Errorf("%s holds %q", name, leak)
			}
		}
		s, ok, err := ReadSaved(path, "")
		if err != nil || !ok {
			t.Fatalf("read back: %v %v", ok, err)
		}
		if !s.Plan.Contents().Has("web1", "p/r file.pw", PlanContentKey(siteKey, s.ContentNonce).Digest(sha(secret))) {
			t.Errorf("%s: the content is not found again with the site key and the plan's nonce", name)
		}
		digests = append(digests, c.Content.Digest)
	}
	if digests[0] == digests[1] {
		t.Errorf("two plans of the same content show the same digest")
	}
}

func TestSiteKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".skiff", "plan.key")
	if _, err := ReadSiteKey(path, false); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key without create: %v", err)
	}
	k1, err := ReadSiteKey(path, true)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ReadSiteKey(path, false)
	if err != nil || !bytes.Equal(k1, k2) || len(k1) != 32 {
		t.Fatalf("key read back %x (%v), made %x", k2, err, k1)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Errorf("key folder mode %v, want 0700", st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the key's folder holds %d entries, want the key alone", len(entries))
	}

	linked := filepath.Join(dir, "linked.key")
	if err := os.Symlink(path, linked); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSiteKey(linked, true); err == nil {
		t.Errorf("a key read through a symbolic link")
	}
}

// A saved plan names the skiff that wrote it; another version's, or one
// that names none, is refused with both versions named.
func TestReadSavedRefusesAnotherVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.plan")
	if err := WriteSaved(path, &Saved{SkiffVersion: "v1.4.0", Plan: &Plan{RunID: "run-1"}}); err != nil {
		t.Fatal(err)
	}
	if s, ok, err := ReadSaved(path, "v1.4.0"); err != nil || !ok || s.SkiffVersion != "v1.4.0" {
		t.Fatalf("the same version: %+v, %v, %v", s, ok, err)
	}
	_, ok, err := ReadSaved(path, "v1.5.0")
	if !ok || err == nil || !strings.Contains(err.Error(), "skiff v1.4.0") || !strings.Contains(err.Error(), "skiff v1.5.0") || !strings.Contains(err.Error(), path) {
		t.Errorf("another version: ok %v, %v", ok, err)
	}
	if err := WriteSaved(path, &Saved{Plan: &Plan{RunID: "run-1"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadSaved(path, "v1.5.0"); err == nil || !strings.Contains(err.Error(), "skiff unknown") {
		t.Errorf("no version: %v", err)
	}
}
