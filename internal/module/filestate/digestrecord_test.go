package filestate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// probeSHA runs the File probe of p with the local /bin/sh and returns
// the sha256 it printed.
func probeSHA(t *testing.T, f *File) string {
	t.Helper()
	cmd := exec.Command("/bin/sh")
	cmd.Stdin = strings.NewReader("(\n" + f.Probe() + "\n)\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "sha256="); ok {
			return v
		}
	}
	t.Fatalf("probe printed no sha256:\n%s", out)
	return ""
}

// clockAhead puts first on PATH a date(1) that prints the time ahead by d,
// as if the probe ran that much later.
func clockAhead(t *testing.T, d time.Duration) {
	bin := t.TempDir()
	script := "#!/bin/sh\necho " + strconv.FormatInt(time.Now().Add(d).Unix(), 10) + "\n"
	if err := os.WriteFile(filepath.Join(bin, "date"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
}

// fileIn is the File for a new path in a temporary folder, with its
// digest records in another one.
func fileIn(t *testing.T, name string) *File {
	return New(Spec{Path: filepath.Join(t.TempDir(), name), Known: true, Content: []byte("other"),
		DigestDir: filepath.Join(t.TempDir(), "digests")})
}

// A recorded digest is what the probe reports while the file is
// unchanged, and is dropped as soon as the file is written again, even to
// the same size.
func TestDigestRecordIsUsedUntilTheFileChanges(t *testing.T) {
	clockAhead(t, time.Minute)
	f := fileIn(t, "app")
	p := f.Path
	if err := os.WriteFile(p, []byte("version 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := probeSHA(t, f); got != sha("version 1") {
		t.Fatalf("first probe: sha256 %s, want %s", got, sha("version 1"))
	}
	rec, err := os.ReadFile(f.recordPath())
	if err != nil {
		t.Fatalf("no digest record after the first probe: %v", err)
	}
	// Replace the recorded digest: a probe that still reports the real one
	// did not use the record.
	k, _, _ := strings.Cut(strings.TrimSpace(string(rec)), " ")
	if err := os.WriteFile(f.recordPath(), []byte(k+" "+sha("from the record")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := probeSHA(t, f); got != sha("from the record") {
		t.Fatalf("unchanged file: sha256 %s, want the recorded one", got)
	}
	time.Sleep(20 * time.Millisecond) // a later clock tick than the first write
	if err := os.WriteFile(p, []byte("version 2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := probeSHA(t, f); got != sha("version 2") {
		t.Fatalf("after a same-size write: sha256 %s, want %s", got, sha("version 2"))
	}
}

// A file written less than two seconds before the probe is hashed but not
// recorded: a write in the same clock tick could leave its key unchanged.
func TestDigestOfAFreshFileIsNotRecorded(t *testing.T) {
	f := fileIn(t, "fresh")
	p, dir := f.Path, f.DigestDir
	if err := os.WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := probeSHA(t, f); got != sha("new") {
		t.Fatalf("sha256 %s, want %s", got, sha("new"))
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("digest folder exists after probing a fresh file (err %v)", err)
	}
}

// A malformed or foreign record costs a hash, never a wrong digest.
func TestMalformedDigestRecordIsIgnored(t *testing.T) {
	f := fileIn(t, "f")
	p, dir := f.Path, f.DigestDir
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, rec := range []string{"", "garbage", "a:b:c " + sha("y"), "%d:%i:%s:%.9Y:%.9Z " + sha("y")} {
		if err := os.WriteFile(f.recordPath(), []byte(rec+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := probeSHA(t, f); got != sha("x") {
			t.Errorf("record %q: sha256 %s, want %s", rec, got, sha("x"))
		}
	}
}
