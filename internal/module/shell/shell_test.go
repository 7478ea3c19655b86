package shell

import (
	"os/exec"
	"strings"
	"testing"

	"skiff/internal/transport"
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
	long := transport.Result{ExitCode: 1, Stdout: []byte(strings.Repeat("x", 5000) + "END")}
	if m := NewRunError("x", long, nil).Error(); len(m) > 2200 || !strings.HasSuffix(m, "END") {
		t.Errorf("tail not kept: len %d", len(m))
	}
	if m := NewRunError("x", transport.Result{ExitCode: 2}, nil).Error(); !strings.Contains(m, "no output") {
		t.Errorf("%q", m)
	}
}
