package shell

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// fakeSudo puts a sudo on PATH that logs its arguments (one per line, then
// "."), and runs what follows "--" as the test's user, with HOME set to
// home. It returns the log's path.
func fakeSudo(t *testing.T, home string) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "sudo.log")
	script := "#!/bin/sh\nfor a; do printf '%s\\n' \"$a\" >> " + Quote(log) + "; done\necho . >> " + Quote(log) + "\n" +
		"while [ \"$1\" != -- ]; do shift; done; shift\nHOME=" + Quote(home) + " exec \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

// AsUser hands the script, whatever it holds, to sh run through sudo -u,
// the user name one argument; the script is in no argument, it starts in
// the user's home, and its exit status comes back.
func TestAsUser(t *testing.T) {
	home := t.TempDir()
	log := fakeSudo(t, home)
	script := `echo "in $(pwd)"; echo "it's \$HOME, a \"secret\" hunter2"; exit 3`
	res, err := (&transporttest.Local{}).Run(context.Background(), AsUser("o'neil; rm -rf /", script)+" </dev/null\necho after $?\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "in " + home + "\nit's $HOME, a \"secret\" hunter2\nafter 3\n"
	if string(res.Stdout) != want {
		t.Errorf("output %q, want %q (stderr %q)", res.Stdout, want, res.Stderr)
	}
	args, _ := os.ReadFile(log)
	if got := string(args); got != "-n\n-H\n-u\no'neil; rm -rf /\n--\n/bin/sh\n-s\n.\n" {
		t.Errorf("sudo ran with %q", got)
	}
}

// A user with no home starts in /.
func TestAsUserWithoutAHome(t *testing.T) {
	fakeSudo(t, filepath.Join(t.TempDir(), "missing"))
	res, err := (&transporttest.Local{}).Run(context.Background(), AsUser("nobody", "pwd")+"\n")
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "/" {
		t.Errorf("pwd %q, %v", res.Stdout, err)
	}
}
