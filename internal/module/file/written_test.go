package file

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
)

// A file task tells what content its change writes and where it comes
// from (a saved plan pins it), and that a change of mode alone writes none.
func TestWrittenNamesContentAndSource(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "app.bin")
	bin := []byte("\x7fELF\x00binary")
	if err := os.WriteFile(src, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "installed")
	m := build(t, map[string]cty.Value{"path": cty.StringVal(target), "source": cty.StringVal(src), "mode": cty.StringVal("0600")})
	if ch := moduletest.Check(t, m); ch == nil || ch.Diff != "" {
		t.Fatalf("change %+v, want one without a diff", ch)
	}
	content, source, ok := m.(module.ContentWriter).Written()
	if !ok || !bytes.Equal(content, bin) || source != src {
		t.Errorf("Written() = %q, %q, %v; want the binary from %s", content, source, ok, src)
	}

	if err := os.WriteFile(target, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(target, 0o644)
	if ch := moduletest.Check(t, m); ch == nil {
		t.Fatalf("no change for the mode")
	}
	if _, _, ok := m.(module.ContentWriter).Written(); ok {
		t.Errorf("a change of mode alone says it writes content")
	}

	inline := build(t, map[string]cty.Value{"path": cty.StringVal(filepath.Join(dir, "motd")), "content": cty.StringVal("hello\n")})
	moduletest.Check(t, inline)
	if content, source, ok := inline.(module.ContentWriter).Written(); !ok || string(content) != "hello\n" || source != "the task's content argument" {
		t.Errorf("inline Written() = %q, %q, %v", content, source, ok)
	}
}
