package fileedit

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module"
)

func appendLine(t *Text) ([]string, error) {
	t.Insert(len(t.Lines), "x")
	return []string{"add x"}, nil
}

// TestReadsProbedContent: what the file probe sends back is trusted only
// when it is whole and matches its digest.
func TestReadsProbedContent(t *testing.T) {
	head := func(size int, sha string) string {
		return "type=file\nparent=1\nstat=644 0 0 root root " + strconv.Itoa(size) + "\nstale_tmp=0\nsha256=" + sha + "\n"
	}
	for _, tc := range []struct {
		name, out, err, diff string
	}{
		{name: "empty file known by its digest", out: head(0, emptySHA), diff: "+x\n"},
		{name: "content", out: head(2, module.SHA256([]byte("a\n"))) + "[content]\n" + base64.StdEncoding.EncodeToString([]byte("a\n")) + "\n", diff: " a\n+x\n"},
		{name: "content not matching its digest", out: head(2, module.SHA256([]byte("a\n"))) + "[content]\n" + base64.StdEncoding.EncodeToString([]byte("b\n")) + "\n", err: "does not match its sha256"},
		{name: "too large", out: head(MaxSize+1, module.SHA256([]byte("big"))), err: "too large to edit"},
		{name: "no content", out: head(3, module.SHA256([]byte("big"))), err: "did not send the file's content"},
		{name: "fifo", out: "type=other\nparent=1\nstat=644 0 0 root root 0\n", err: "is a special file, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Spec{Kind: "line_in_file", Path: "/etc/x"}, appendLine)
			ch, err := e.Check(module.Probed{Stdout: []byte(tc.out)})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "/etc/x") {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || ch == nil || !strings.Contains(ch.Diff, tc.diff) {
				t.Fatalf("change %+v, err %v", ch, err)
			}
		})
	}
}

func TestTextRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a", "a\n", "a\r\nb\r\n", "a\nb", "\n\n", "a\r\nb\nc"} {
		if got := string(Parse([]byte(s)).Bytes()); got != s {
			t.Errorf("Parse(%q).Bytes() = %q", s, got)
		}
	}
}
