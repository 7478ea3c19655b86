package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func TestProbeBatchFramesEachResult(t *testing.T) {
	frags := []string{
		"echo one; echo '@@ not a frame'",
		"",
		"printf 'no newline'; exit 3",
		"cat; echo read-nothing", // stdin is closed
	}
	for _, tmp := range []string{t.TempDir(), "/nonexistent/skiff"} { // concurrent, then one by one
		t.Setenv("TMPDIR", tmp)
		out, err := probeBatch(context.Background(), &transporttest.Local{}, frags)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			stdout string
			code   int
		}{{"one\n@@ not a frame\n", 0}, {"", 0}, {"no newline", 3}, {"read-nothing\n", 0}}
		for i, w := range want {
			if string(out[i].Stdout) != w.stdout || out[i].ExitCode != w.code {
				t.Errorf("TMPDIR=%s: fragment %d: got %q exit %d, want %q exit %d", tmp, i, out[i].Stdout, out[i].ExitCode, w.stdout, w.code)
			}
		}
	}
}

// The fragments of a batch run at the same time: each one waits (up to
// 5 s) for a mark the other leaves, which one after another cannot see.
func TestProbeBatchRunsFragmentsConcurrently(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	frag := func(mine, other string) string {
		return fmt.Sprintf(`touch %q; i=0; while [ ! -e %q ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; [ -e %q ] && echo saw`,
			filepath.Join(dir, mine), filepath.Join(dir, other), filepath.Join(dir, other))
	}
	out, err := probeBatch(context.Background(), &transporttest.Local{}, []string{frag("a", "b"), frag("b", "a")})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if strings.TrimSpace(string(o.Stdout)) != "saw" {
			t.Errorf("fragment %d did not run alongside the other: %q", i, o.Stdout)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "skiff-probe.*"))
	if len(left) != 0 {
		t.Errorf("temporary folders left behind: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
}
