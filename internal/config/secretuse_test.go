package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// SecretUse finds the secrets a role reads in task arguments, conditions
// and templates, each credited to the first task that reads it.
func TestSecretUse(t *testing.T) {
	_, pb := extraVarsSite(t, map[string]string{
		"roles/app/templates/env.tftpl":       "DB=${secret.db_password}\n",
		"roles/app/templates/sub/extra.tftpl": "${secret[\"sumo_key\"]}\n",
		"roles/unused/templates/never.tftpl":  "${secret.unused_role_secret}\n",
	})
	app := pb.Roles["app"]
	use := app.SecretUse()
	env := app.Tasks[1]
	if want := "task template.env (" + env.Range.Filename + ":14:1)"; use["db_password"] != want {
		t.Errorf("db_password needed by %q, want %q", use["db_password"], want)
	}
	if got := use["sumo_key"]; !strings.HasPrefix(got, "template ") || !strings.HasSuffix(got, filepath.Join("sub", "extra.tftpl")+` of role "app"`) {
		t.Errorf("sumo_key needed by %q, want the template itself (no task names it)", got)
	}
	if _, ok := use["unused_role_secret"]; ok || len(use) != 2 {
		t.Errorf("use = %v, want db_password and sumo_key only", use)
	}

	// secret read without a name: any secret may be needed.
	_, pb = extraVarsSite(t, map[string]string{"roles/app/templates/env.tftpl": "${secret[var.app_version]}\n"})
	if _, ok := pb.Roles["app"].SecretUse()[AnySecret]; !ok {
		t.Errorf("secret[var.app_version] does not make every secret needed")
	}
	// So does a template that cannot be parsed.
	_, pb = extraVarsSite(t, map[string]string{"roles/app/templates/env.tftpl": "${secret.\x00"})
	if _, ok := pb.Roles["app"].SecretUse()[AnySecret]; !ok {
		t.Errorf("an unreadable template does not make every secret needed")
	}
}
