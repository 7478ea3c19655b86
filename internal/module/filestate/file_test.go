package filestate

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/plan"
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestCheckParsesProbeOutput(t *testing.T) {
	const p = "/etc/x.conf"
	want := "a\nb\n"
	regular := func(content string, withContent bool) string {
		out := "type=file\nparent=1\nstat=644 0 0 root root 4\nsha256=" + sha(content) + "\n"
		if withContent {
			out += "[content]\n" + base64.StdEncoding.EncodeToString([]byte(content)) + "\n"
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		spec    Spec
		out     string
		action  plan.Action // "" for no change
		summary string
		diff    string // substring
		err     string
	}{
		{name: "in sync", spec: Spec{Content: []byte(want)}, out: regular(want, false)},
		{name: "meta in sync by id", spec: Spec{Content: []byte(want), Meta: Meta{Owner: "0", Group: "root", Mode: 0o644, HasMode: true}}, out: regular(want, false)},
		{name: "missing", spec: Spec{Content: []byte(want)}, out: "type=absent\nparent=1\n",
			action: plan.Create, summary: "create " + p, diff: "@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{name: "missing parent", spec: Spec{Content: []byte(want)}, out: "type=absent\nparent=0\n",
			action: plan.Create, summary: "create " + p + " (parent directory /etc does not exist yet)"},
		{name: "content", spec: Spec{Content: []byte(want)}, out: regular("a\nc\n", true),
			action: plan.Update, summary: "update " + p + ": content", diff: "--- /etc/x.conf (on host)\n+++ /etc/x.conf (wanted)\n@@ -1,2 +1,2 @@\n a\n-c\n+b\n"},
		{name: "no newline at end", spec: Spec{Content: []byte(want)}, out: regular("a\nb", true),
			action: plan.Update, diff: "-b\n\\ No newline at end of file\n+b\n"},
		{name: "too large", spec: Spec{Content: []byte(want)}, out: regular("big", false),
			action: plan.Update, summary: "update " + p + ": content (too large to diff)"},
		{name: "binary on host", spec: Spec{Content: []byte(want)}, out: regular("\x00\x01", true),
			action: plan.Update, summary: "update " + p + ": content (binary on host)"},
		{name: "binary wanted", spec: Spec{Content: []byte("\x00")}, out: "type=absent\nparent=1\n",
			action: plan.Create, summary: "create " + p + " (binary content)"},
		{name: "owner and mode", spec: Spec{Content: []byte(want), Meta: Meta{Owner: "www-data", Mode: 0o600, HasMode: true}}, out: regular(want, false),
			action: plan.Update, summary: "update " + p + ": owner root -> www-data, mode 0644 -> 0600"},
		{name: "sensitive", spec: Spec{Content: []byte(want), Sensitive: true}, out: regular("x", false),
			action: plan.Update, summary: "update " + p + ": content (sensitive)"},
		{name: "absent wanted, exists", spec: Spec{Absent: true}, out: regular("x", false), action: plan.Delete, summary: "remove " + p},
		{name: "absent wanted, missing", spec: Spec{Absent: true}, out: "type=absent\nparent=1\n"},
		{name: "directory", spec: Spec{Content: []byte(want)}, out: "type=directory\nparent=1\nstat=755 0 0 root root 4096\n", err: "is a directory"},
		{name: "symlink", spec: Spec{Content: []byte(want)}, out: "type=symlink\nparent=1\nstat=777 0 0 root root 4\nlink=/x\n", err: "is a symbolic link"},
		{name: "garbage", spec: Spec{Content: []byte(want)}, out: "sh: 1: stat: not found\n", err: "no path type"},
		{name: "stat failed", spec: Spec{Content: []byte(want)}, out: "type=file\nparent=1\nstat=\n", err: "cannot stat"},
		{name: "no sha", spec: Spec{Content: []byte(want)}, out: "type=file\nparent=1\nstat=644 0 0 root root 4\n", err: "sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Path, tc.spec.Known = p, true
			ch, err := New(tc.spec).Check(module.Probed{Stdout: []byte(tc.out)})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.action == "" {
				if ch != nil {
					t.Fatalf("unexpected change %+v", *ch)
				}
				return
			}
			if ch == nil {
				t.Fatal("no change")
			}
			if ch.Action != tc.action || (tc.summary != "" && ch.Summary != tc.summary) || !strings.Contains(ch.Diff, tc.diff) {
				t.Errorf("change = %q %q\n%s", ch.Action, ch.Summary, ch.Diff)
			}
			if tc.spec.Sensitive && (!ch.Sensitive || ch.Diff != "") {
				t.Errorf("sensitive change shows a diff")
			}
		})
	}
}

func TestProbeEmbedsWantedSHA(t *testing.T) {
	f := New(Spec{Path: "/x", Content: []byte("hi"), Known: true})
	if !strings.Contains(f.Probe(), sha("hi")) {
		t.Errorf("probe lacks the wanted sha")
	}
	f = New(Spec{Path: "/x", Content: []byte("hi"), Known: true, Sensitive: true})
	if strings.Contains(f.Probe(), "base64") {
		t.Errorf("sensitive probe asks for content")
	}
}

func TestMetaScriptClearsDirSetgid(t *testing.T) {
	s := Meta{Mode: 0o755, HasMode: true}.Script("p", true)
	if !strings.Contains(s, "chmod 0755 \"$p\"") || !strings.Contains(s, "chmod ug-s") {
		t.Errorf("script:\n%s", s)
	}
	if s := (Meta{Mode: 0o2775, HasMode: true}).Script("p", true); !strings.Contains(s, "chmod u-s") || strings.Contains(s, "g-s") {
		t.Errorf("script:\n%s", s)
	}
	if s := (Meta{Owner: "a", Group: "b"}).Script("p", false); s != "chown 'a:b' \"$p\" || exit 1\n" {
		t.Errorf("script: %q", s)
	}
}

func TestTempPath(t *testing.T) {
	a, b := TempPath("/etc/nginx/x.conf"), TempPath("/etc/nginx/x.conf")
	if a == b || !strings.HasPrefix(a, "/etc/nginx/.skiff-x.conf.") || !strings.HasSuffix(a, ".tmp") {
		t.Errorf("TempPath = %q, %q", a, b)
	}
}
