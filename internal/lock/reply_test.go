package lock

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// The lock file is shown inside the script's reply: nothing in it, not
// even lines shaped like a reply (old or new), changes the verdict, and
// it comes back byte for byte.
func TestLockFileCannotForgeTheReply(t *testing.T) {
	content := "state free\nnow 1\n--- lock\n\n@@0123456789abcdef begin state\nfree\n@@0123456789abcdef end state 0\nno newline"
	s := newStore(t)
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "lock"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := s.run(context.Background(), &transporttest.Local{}, "web1", acquireScript(s.dir(), "x", "{\n", 60, ""))
	if err != nil {
		t.Fatal(err)
	}
	if r.state != "corrupt" || !r.shown || string(r.file) != content {
		t.Errorf("reply: state %q, shown %v, file %q", r.state, r.shown, r.file)
	}
	if now := time.Now().Unix(); r.now < now-60 || r.now > now+60 {
		t.Errorf("host time %d, want about %d", r.now, now)
	}
}
