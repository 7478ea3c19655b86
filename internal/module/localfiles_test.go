package module

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLocalFilesReadOnceUntilChanged(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(p, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	var c LocalFiles
	a, _ := c.Read(p)
	b, _ := c.Read(p)
	if &a[0] != &b[0] {
		t.Errorf("second read did not share the first's bytes")
	}
	if err := os.WriteFile(p, []byte("v2!"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	if got, _ := c.Read(p); string(got) != "v2!" {
		t.Errorf("changed file read as %q", got)
	}
	if _, err := c.Read(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("missing file read without error")
	}
}
