package ufw

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// The helper's answer is the fragment's output, byte for byte, for ufw
// active, inactive and absent, with sshd ports in the main file and in
// drop-ins (sorted, hidden ones skipped), odd spacing and a 6-digit port.
func TestAnswerFirewallMatchesTheFragment(t *testing.T) {
	for _, tc := range []struct {
		name      string
		installed bool
		status    string
	}{{"active", true, "active"}, {"inactive", true, "inactive"}, {"absent", false, ""}} {
		h := newHost(t, tc.installed, tc.status)
		h.write(t, "etc/ssh/sshd_config", "# Port 1\nPort 22\n \tport\t2222 # admin\nPortX 5\nPort 123456\n")
		h.write(t, "etc/ssh/sshd_config.d/b.conf", "Port 4444\n")
		h.write(t, "etc/ssh/sshd_config.d/a.conf", "PORT 3333\n")
		h.write(t, "etc/ssh/sshd_config.d/.hidden.conf", "Port 9\n")
		if tc.installed {
			h.edit(t, "etc/default/ufw", "IPV6=yes", "  IPV6=yes")
		}
		u := &UFW{root: h.root}
		cmd := exec.Command("/bin/sh")
		cmd.Stdin = strings.NewReader("(\n" + u.Probe() + "\n)\n")
		want, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		_, q, _ := u.NativeProbe()
		raw, _ := json.Marshal(q)
		got := AnswerFirewalls([][]byte{raw})[0]
		if !got.OK || !bytes.Equal(got.Stdout, want) {
			t.Errorf("%s: native answer (ok %v) differs:\n--- fragment\n%s--- native\n%s", tc.name, got.OK, want, got.Stdout)
		}
	}
}

// A file sed or grep could read differently is left to the fragment.
func TestAnswerFirewallDeclinesOddFiles(t *testing.T) {
	h := newHost(t, true, "active")
	h.write(t, "etc/ufw/user.rules", "### tuple ### allow tcp 22\n\x00binary")
	raw, _ := json.Marshal(firewallQuery{Root: h.root})
	if got := AnswerFirewalls([][]byte{raw})[0]; got.OK {
		t.Errorf("answered for a file with NUL bytes:\n%s", got.Stdout)
	}
}
