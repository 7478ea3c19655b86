package acme

import (
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// Reversal implements module.Reversible: the host's certificate and key
// (or their absence) come back as they were before Apply, each saved and
// restored as the file kind does (the key's copy stays root's, 0600, on
// the host: it never reaches the journal). The certificate kept beside
// the inventory is not touched, so the next plan offers to install it
// again.
func (c *Cert) Reversal(dir string) (backup, undo, after string) {
	if c.certPath == "" || c.keyPath == "" {
		return "", "", ""
	}
	var b, u strings.Builder
	for _, f := range []struct{ sub, path string }{{"key", c.keyPath}, {"cert", c.certPath}} {
		d := path.Join(dir, f.sub)
		fb, fu := filestate.Reversal(f.path, d)
		fmt.Fprintf(&b, "mkdir -p -m 0700 %s || exit 1\n(\n%s) || exit 1\n", shell.Quote(d), fb)
		fmt.Fprintf(&u, "(\n%s) || exit 1\n", fu)
	}
	return b.String(), u.String(), ""
}
