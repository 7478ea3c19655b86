package fleet

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

const (
	tokA = "0123456789abcdef"
	tokB = "fedcba9876543210"
	hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

func script(tok string) string {
	return "printf '@@" + tok + " begin facts\\n'\n[ -x /h/skiff-" + hash + " ] && echo yes\n"
}

// A replayed answer carries the new request's tokens where the recording
// had the old ones, and keeps what is the same in every run.
func TestReplayCarriesTheRequestsTokens(t *testing.T) {
	b := NewBook()
	b.Record("sudo -n sh -s", script(tokA), Reply{Stdout: []byte("@@" + tokA + " begin facts\nsum=" + hash + "\n"), Stderr: []byte("warn " + tokA), Exit: 3})
	r, ok := b.Answer("sudo -n sh -s", script(tokB))
	if !ok {
		t.Fatal("no answer for a request of the recorded shape")
	}
	if want := "@@" + tokB + " begin facts\nsum=" + hash + "\n"; string(r.Stdout) != want {
		t.Errorf("stdout = %q, want %q", r.Stdout, want)
	}
	if string(r.Stderr) != "warn "+tokB || r.Exit != 3 {
		t.Errorf("stderr, exit = %q, %d", r.Stderr, r.Exit)
	}
	if _, ok := b.Answer("sh -s", script(tokB)); ok {
		t.Error("answered another command")
	}
	if _, ok := b.Answer("sudo -n sh -s", script(tokB)+"echo more\n"); ok {
		t.Error("answered another script")
	}
	b.Record("sudo -n sh -s", script(tokB), Reply{Stdout: []byte("other")})
	if b.Varied() != 1 || b.Len() != 1 {
		t.Errorf("after a different answer to the same shape: varied %d, len %d", b.Varied(), b.Len())
	}
}

// The server answers a session from the book and counts the connection
// as unauthenticated while it logs in; a request it has no answer for
// fails with exit 255 and is counted.
func TestServerReplaysAndCounts(t *testing.T) {
	pub, signer, err := WriteClientKey(filepath.Join(t.TempDir(), "id"))
	if err != nil {
		t.Fatal(err)
	}
	book := NewBook()
	book.Record("sh -s", script(tokA), Reply{Stdout: []byte("ok " + tokA)})
	srv, err := New(pub, Replay(book))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ep, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.Dial("tcp", ep.Addr, &ssh.ClientConfig{
		User: "deploy", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(string, net.Addr, ssh.PublicKey) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	run := func(stdin string) (string, error) {
		s, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out bytes.Buffer
		s.Stdin, s.Stdout = strings.NewReader(stdin), &out
		err = s.Run("sh -s")
		return out.String(), err
	}
	if out, err := run(script(tokB)); err != nil || out != "ok "+tokB {
		t.Errorf("replayed session = %q, %v", out, err)
	}
	_, err = run("echo unrecorded\n")
	if ee, ok := err.(*ssh.ExitError); !ok || ee.ExitStatus() != 255 {
		t.Errorf("unrecorded request: %v, want exit 255", err)
	}
	st := srv.StatsOf()
	if st.MaxUnauth != 1 || st.Conns != 1 || st.Sessions != 2 || st.Misses != 1 {
		t.Errorf("stats = %+v, want 1 unauthenticated at most, 1 connection, 2 sessions, 1 miss", st)
	}
}
