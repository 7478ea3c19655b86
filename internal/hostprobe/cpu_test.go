package hostprobe

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/wire"
)

// A batch that asks for the CPU account gets the same answers, and the
// helper's stderr accounts its start-up, each native kind, each task
// kind run with sh (a busy fragment with time of its own) and its total.
func TestServeAccountsCPUWhenAsked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("x"), 0o644)
	f := filestate.New(filestate.Spec{Path: p, Known: true, Content: []byte("x"), DigestDir: t.TempDir()})
	kind, q, _ := f.NativeProbe()
	raw, _ := json.Marshal(q)
	busy := "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i"
	items := []wire.ProbeItem{
		{Index: 0, Sh: f.Probe(), Kind: kind, Query: raw, Task: "file"},
		{Index: 1, Sh: busy, Task: "command"},
		{Index: 2, Sh: "echo two; echo oops >&2", Task: "command"},
		{Index: 4, Sh: "echo unnamed"},
	}
	plain, plainErr := serve(t, wire.ProbeBatch{Token: "tok", Items: items})
	counted, account := serve(t, wire.ProbeBatch{Token: "tok", Items: items, CPU: true})
	if counted != plain {
		t.Errorf("answers with the account:\n%s\nwithout:\n%s", counted, plain)
	}
	if !strings.Contains(account, "oops\n") || plainErr != "oops\n" {
		t.Errorf("the fragments' stderr is lost: %q, %q", account, plainErr)
	}
	lines := map[string]float64{}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(CPUPrefix) + `(.+?) ([0-9]+\.[0-9]{3})ms$`)
	for _, l := range strings.Split(account, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			lines[m[1]], _ = strconv.ParseFloat(m[2], 64)
		}
	}
	for _, want := range []string{"start-up", "native " + kind + " 1", "sh command 2", "sh (unnamed) 1", "total"} {
		if _, ok := lines[want]; !ok {
			t.Errorf("no account line %q in:\n%s", want, account)
		}
	}
	if lines["sh command 2"] <= 0 || lines["total"] < lines["sh command 2"] {
		t.Errorf("the busy fragment took no time of its own, or more than the total:\n%s", account)
	}
	if strings.Contains(plainErr, CPUPrefix) {
		t.Errorf("a batch that did not ask got an account: %q", plainErr)
	}
}
