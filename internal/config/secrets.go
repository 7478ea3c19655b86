package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// ResolveSecrets reads the declared secrets that need names (every one when
// need is nil; need maps a secret to who reads it, as SecretUse does). A
// secret whose variable is unset or whose file is unreadable is an error at
// its block, naming who needs it. File paths are relative to the
// inventory's folder; ~ is the user's home. An age file is decrypted once
// per Inventory (one command), in memory only.
func (inv *Inventory) ResolveSecrets(need map[string]string) (map[string]string, hcl.Diagnostics) {
	out := map[string]string{}
	var diags hcl.Diagnostics
	for _, s := range inv.Secrets {
		who, needed := need[s.Name]
		if need != nil && !needed {
			continue
		}
		v, d := inv.readSecret(s)
		if who != "" {
			for _, e := range d {
				e.Detail = strings.TrimSuffix(e.Detail, ".") + ". Needed by " + who + "."
			}
		}
		diags = append(diags, d...)
		if !d.HasErrors() {
			out[s.Name] = v
		}
	}
	return out, diags
}

// readSecret reads one secret from its variable, file or age file.
func (inv *Inventory) readSecret(s *Secret) (string, hcl.Diagnostics) {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", hcl.Diagnostics{errAt(s.Range, "Missing secret", fmt.Sprintf("Secret %q reads the environment variable %s, which is not set.", s.Name, s.Env))}
		}
		return v, nil
	case s.File != "":
		p := inv.Path(s.File)
		b, err := os.ReadFile(p)
		if err != nil {
			return "", hcl.Diagnostics{errAt(s.Range, "Missing secret", fmt.Sprintf("Secret %q reads the file %s: %v.", s.Name, p, err))}
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case s.Age != "":
		return inv.ageSecret(s)
	}
	return "", nil
}

// Path resolves p against the inventory's folder, expanding a leading ~.
func (inv *Inventory) Path(p string) string {
	if p == "" {
		return ""
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(inv.Dir, p)
}
