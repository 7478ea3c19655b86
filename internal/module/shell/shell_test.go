package shell

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/transport"
)

func TestQuoteSurvivesSh(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", "a b\tc", `$HOME $(id) ` + "`id`", `\n\\'"`, "line1\nline2", "*?[x]", "'''"} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if string(out) != s {
			t.Errorf("Quote(%q) printed %q", s, out)
		}
	}
}

func TestJoin(t *testing.T) {
	if got := Join([]string{"a", "b c"}); got != `'a' 'b c'` {
		t.Errorf("Join = %s", got)
	}
}

func TestFields(t *testing.T) {
	f := Fields([]byte("type=file\nstat=644 0 0 root root 12\nnoise\nlink=a=b\ntype=dir\n"))
	want := map[string]string{"type": "dir", "stat": "644 0 0 root root 12", "link": "a=b"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
	if _, ok := f["noise"]; ok {
		t.Errorf("line without = parsed")
	}
}

func TestSections(t *testing.T) {
	s := Sections([]byte("pre\n[dpkg]\na b\nc d\n[policy]\n[end]\n"))
	if s[""] != "pre\n" || s["dpkg"] != "a b\nc d\n" || s["policy"] != "" {
		t.Errorf("sections = %q", s)
	}
	if _, ok := s["end"]; !ok {
		t.Errorf("empty last section missing: %q", s)
	}
	if _, ok := s["missing"]; ok {
		t.Errorf("unexpected section")
	}
}

func TestRunErrorScrubsSecrets(t *testing.T) {
	res := transport.Result{ExitCode: 3, Stderr: []byte("access denied for pw=hunter2x\n"), Stdout: []byte("tried hunter2\n")}
	err := NewRunError("command (sensitive)", res, []string{"hunter2", "hunter2x", ""})
	msg := err.Error()
	if strings.Contains(msg, "hunter2") {
		t.Fatalf("secret in %q", msg)
	}
	for _, want := range []string{"exit 3", "pw=(sensitive)", "tried (sensitive)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	long := transport.Result{ExitCode: 1, Stdout: []byte(strings.Repeat("x", 5000) + " END")}
	if m := NewRunError("x", long, nil).Error(); len(m) > 2200 || !strings.HasSuffix(m, "END") {
		t.Errorf("tail not kept: len %d", len(m))
	}
	if m := NewRunError("x", transport.Result{ExitCode: 2}, nil).Error(); !strings.Contains(m, "no output") {
		t.Errorf("%q", m)
	}
}

// Last cuts where no secret can be cut in two (at a line start, else
// after a space), so that scrubbing its result later still finds every
// secret whole.
func TestLastNeverCutsAWord(t *testing.T) {
	const pw = "hunter2-secret"
	text := strings.Repeat("noise line\n", 10) + "pw " + pw + " here\n" + strings.Repeat("more noise\n", 3)
	for n := 1; n < len(text); n++ {
		got := Last(text, n)
		rest := strings.TrimPrefix(got, "…")
		if rest == got || len(rest) > n || !strings.HasSuffix(text, rest) {
			t.Fatalf("Last(_, %d) = %q: not an ellipsis and the end of the text, within %d bytes", n, got, n)
		}
		if before := text[len(text)-len(rest)-1]; before != '\n' && before != ' ' {
			t.Fatalf("Last(_, %d) = %q cuts a word", n, got)
		}
	}
	if got := Last(strings.Repeat("y", 3000)+pw, 100); strings.Contains(got, "secret") || !strings.Contains(got, "not shown") {
		t.Errorf("one long line: %q", got)
	}
	if got := Last("short", 100); got != "short" {
		t.Errorf("short: %q", got)
	}
}
