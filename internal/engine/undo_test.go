package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// Undo runs each undo newest first, then each distinct after step once,
// and reports what was undone and why the rest was not, in the order the
// steps ran: a fragment's own output never passes for a verdict.
func TestUndoReportsEachStep(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	entries := []journal.Entry{
		{Seq: 4, Role: "web", Task: "file.a", Undo: "echo undo4 >>" + log + "; echo '@@ undone 3'", After: "echo after >>" + log},
		{Seq: 3, Role: "web", Task: "file.b", Undo: "echo 'no such backup' >&2; exit 1"},
		{Seq: 2, Role: "web", Task: "command.c"},
		{Seq: 1, Role: "web", Task: "service.d", After: "echo after >>" + log},
		{Seq: 0, Role: "web", Task: "ufw.e", Undo: "true", After: "echo 'reload failed' >&2; exit 3"},
	}
	undone, problems := Undo(context.Background(), &transporttest.Local{}, entries)
	if !slices.Equal(undone, []int{4, 1, 0}) {
		t.Errorf("undone %v, want [4 1 0]", undone)
	}
	want := []string{
		"web command.c cannot be undone",
		"undo of web file.b failed: no such backup",
		`after the undo, "echo 'reload failed' >&2; exit 3" failed: reload failed`,
	}
	if !slices.Equal(problems, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
	if b, _ := os.ReadFile(log); string(b) != "undo4\nafter\n" {
		t.Errorf("ran %q, want the undo then the shared after step once", b)
	}
}
