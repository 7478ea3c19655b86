package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module"
)

// A host whose system a kind of its plays cannot serve fails with its
// name and os_id as its facts are read: no task of any play runs there,
// while the other hosts go on.
func TestHostOfAnotherSystemFailsBeforeAnyChange(t *testing.T) {
	f := newPlaysFixture(t, map[string]string{
		"first":  `task "touch" "one" { path = "DIR/${host.name}-1" }`,
		"second": `task "vtouch" "two" { path = "DIR/${host.name}-2" }`,
	}, `play "p1" { hosts = "all"  roles = ["first"] }
play "p2" { hosts = "b"  roles = ["second"] }
`, "")
	t.Chdir(f.dir)
	if err := os.MkdirAll(filepath.Join(f.dir, "DIR"), 0o755); err != nil {
		t.Fatal(err)
	}
	// This machine's os_id stands for the system vtouch cannot serve.
	f.eng.Serves = map[string]func(module.System) error{
		"vtouch": func(s module.System) error {
			if s.ID != "" {
				return errors.New("vtouch needs another system")
			}
			return nil
		},
	}
	p := f.eng.Apply(context.Background(), f.ch)
	var b string
	for _, h := range p.Hosts {
		if h.Name == "b" {
			b = h.Error
		} else if h.Error != "" {
			t.Errorf("%s failed: %s", h.Name, h.Error)
		}
	}
	if !strings.Contains(b, `b runs os_id "`) || !strings.Contains(b, "play p2, role second: vtouch.two cannot run there: vtouch needs another system; nothing was changed on it") {
		t.Errorf("b's error: %q", b)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "DIR", "b-1")); err == nil {
		t.Errorf("b's first play ran before its system was checked")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "DIR", "a-1")); err != nil {
		t.Errorf("a did not converge: %v", err)
	}
}
