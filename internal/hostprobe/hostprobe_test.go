package hostprobe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/wire"
)

func serve(t *testing.T, b wire.ProbeBatch) (string, string) {
	t.Helper()
	return serveWith(t, filestate.Natives, b)
}

func serveWith(t *testing.T, answerers map[string]module.NativeAnswerer, b wire.ProbeBatch) (string, string) {
	t.Helper()
	data, _ := json.Marshal(b)
	var out, errOut bytes.Buffer
	if err := Serve(answerers, bytes.NewReader(data), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String()
}

// Every item comes back framed, in order: natives answered in process,
// the others (and natives of unknown kinds) run with sh, with their exit
// codes and stdin closed.
func TestServeFramesEveryItemInOrder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("x"), 0o644)
	f := filestate.New(filestate.Spec{Path: p, Known: true, Content: []byte("x"), DigestDir: t.TempDir()})
	kind, q, _ := f.NativeProbe()
	raw, _ := json.Marshal(q)
	b := wire.ProbeBatch{Token: "tok", Items: []wire.ProbeItem{
		{Index: 0, Sh: "echo one; echo oops >&2"},
		{Index: 2, Sh: "printf 'no newline'; exit 3"},
		{Index: 3, Sh: f.Probe(), Kind: kind, Query: raw},
		{Index: 5, Sh: "echo from sh", Kind: "no-such-kind", Query: raw},
		{Index: 6, Sh: "cat; echo read-nothing"},
		{Index: 7, Sh: "kill -9 $$"},
	}}
	out, errOut := serve(t, b)
	cmd := exec.Command("/bin/sh")
	cmd.Stdin = strings.NewReader("(\n" + f.Probe() + "\n)\n")
	fileOut, _ := cmd.Output()
	want := "\n@@tok begin 0\none\n\n@@tok end 0 0\n" +
		"\n@@tok begin 2\nno newline\n@@tok end 2 3\n" +
		"\n@@tok begin 3\n" + string(fileOut) + "\n@@tok end 3 0\n" +
		"\n@@tok begin 5\nfrom sh\n\n@@tok end 5 0\n" +
		"\n@@tok begin 6\nread-nothing\n\n@@tok end 6 0\n" +
		"\n@@tok begin 7\n\n@@tok end 7 137\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if errOut != "oops\n" {
		t.Errorf("stderr %q, want the fragment's", errOut)
	}
}

// The fragments run concurrently, as in the sh batch.
func TestServeRunsFragmentsConcurrently(t *testing.T) {
	dir := t.TempDir()
	frag := func(mine, other string) string {
		return fmt.Sprintf(`touch %q; i=0; while [ ! -e %q ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; [ -e %q ] && echo saw`,
			filepath.Join(dir, mine), filepath.Join(dir, other), filepath.Join(dir, other))
	}
	out, _ := serve(t, wire.ProbeBatch{Token: "t", Items: []wire.ProbeItem{{Index: 0, Sh: frag("a", "b")}, {Index: 1, Sh: frag("b", "a")}}})
	if strings.Count(out, "saw\n") != 2 {
		t.Errorf("fragments did not run alongside each other:\n%s", out)
	}
}

// Script feeds the batch to the helper on stdin, and exits 127 without
// output where the helper is missing.
func TestScriptRunsTheHelperOrExits127(t *testing.T) {
	b := wire.ProbeBatch{Token: "tok", Items: []wire.ProbeItem{{Index: 0, Sh: "echo 'SKIFF_PROBE_BATCH_x\n'"}}}
	s, err := Script("/nonexistent/skiff-helper", b)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", s)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 || len(out) != 0 {
		t.Fatalf("missing helper: out %q, err %v", out, err)
	}
	// A stand-in helper that prints its stdin shows what it is fed.
	cat := filepath.Join(t.TempDir(), "helper")
	os.WriteFile(cat, []byte("#!/bin/sh\n[ \"$1\" = "+Subcommand+" ] && exec cat\n"), 0o755)
	s, _ = Script(cat, b)
	out, err = exec.Command("/bin/sh", "-c", s).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got wire.ProbeBatch
	if err := json.Unmarshal(out, &got); err != nil || got.Items[0].Sh != b.Items[0].Sh {
		t.Errorf("the helper was fed %q (%v)", out, err)
	}
}

// A native answerer that panics costs nothing but speed: its items run as
// sh, and the helper says why on stderr.
func TestServeFallsBackWhenAnAnswererPanics(t *testing.T) {
	answerers := map[string]module.NativeAnswerer{"test-panic": func([][]byte) []module.NativeAnswer { panic("boom") }}
	out, errOut := serveWith(t, answerers, wire.ProbeBatch{Token: "t", Items: []wire.ProbeItem{{Index: 0, Sh: "echo from sh", Kind: "test-panic", Query: []byte("{}")}}})
	if out != "\n@@t begin 0\nfrom sh\n\n@@t end 0 0\n" {
		t.Errorf("output %q", out)
	}
	if !strings.Contains(errOut, "boom") {
		t.Errorf("stderr %q", errOut)
	}
}

// A fragment travels to sh on its stdin, never in an argv: a command's
// env (secrets included) is exported inside it, and every local user can
// read every process's command line.
func TestServeKeepsFragmentsOutOfArgv(t *testing.T) {
	const secret = "argv-secret-0f3c9a"
	// The fragment lists every process's command line while it runs.
	frag := "S=" + secret + "; export S\n" +
		`for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' <"$f" 2>/dev/null; echo; done`
	out, _ := serve(t, wire.ProbeBatch{Token: "t", Items: []wire.ProbeItem{{Index: 0, Sh: frag}}})
	if !strings.Contains(out, "hostprobe.test") {
		t.Fatalf("the fragment did not list this test's processes:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, secret) {
			t.Errorf("the fragment shows in a command line: %q", line)
		}
	}
}
