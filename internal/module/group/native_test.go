package group

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/nssfiles"
)

// On this machine's own groups, the helper's answer is getent's.
func TestAnswerGroupsMatchesTheFragment(t *testing.T) {
	if !nssfiles.Load("").OK() {
		t.Skip("this machine's name service does not ask the files first")
	}
	data, err := os.ReadFile("/etc/group")
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, _, _ := strings.Cut(line, ":")
		g := &Group{name: name}
		_, q, ok := g.NativeProbe()
		if !ok {
			continue
		}
		raw, _ := json.Marshal(q)
		got := AnswerGroups([][]byte{raw})[0]
		if !got.OK {
			t.Errorf("%s: declined a group of /etc/group", name)
			continue
		}
		answered++
		want, err := exec.Command("/bin/sh", "-c", "(\n"+g.Probe()+"\n)").Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Stdout, want) {
			t.Errorf("%s: native answer differs:\n--- fragment\n%s--- native\n%s", name, want, got.Stdout)
		}
	}
	if answered == 0 {
		t.Errorf("no group answered natively")
	}
	raw, _ := json.Marshal(groupQuery{Name: "no-such-group-skiff"})
	if got := AnswerGroups([][]byte{raw})[0]; got.OK {
		t.Errorf("answered for a group the files lack: %q", got.Stdout)
	}
}
