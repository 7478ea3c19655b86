package user

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/nssfiles"
)

// On this machine's own accounts, the helper's answer is what the
// fragment's getent, cut and id print, for every user it answers; it
// answers for root at least, and declines users the files lack.
func TestAnswerUsersMatchesTheFragment(t *testing.T) {
	if !nssfiles.Load("").OK() {
		t.Skip("this machine's name service does not ask the files first")
	}
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, _, _ := strings.Cut(line, ":")
		u := &User{name: name}
		_, q, ok := u.NativeProbe()
		if !ok {
			continue
		}
		raw, _ := json.Marshal(q)
		got := AnswerUsers([][]byte{raw})[0]
		if !got.OK {
			continue
		}
		answered++
		want, err := exec.Command("/bin/sh", "-c", "(\n"+u.Probe()+"\n)").Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Stdout, want) {
			t.Errorf("%s: native answer differs:\n--- fragment\n%s--- native\n%s", name, want, got.Stdout)
		}
	}
	if answered == 0 {
		t.Errorf("no user answered natively")
	}
	raw, _ := json.Marshal(userQuery{Name: "no-such-user-skiff"})
	if got := AnswerUsers([][]byte{raw})[0]; got.OK {
		t.Errorf("answered for a user the files lack: %q", got.Stdout)
	}
}
