package plan

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// plan --out writes a new file of its own and renames it: a symbolic link
// or a file planted at the old temporary name (PATH.tmp) or at PATH is
// neither followed nor kept, and the plan is 0600 and the user's.
func TestWriteSavedIgnoresPlantedFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]func(path, victim, planted string) error{
		"link at PATH.tmp": func(path, victim, _ string) error { return os.Symlink(victim, path+".tmp") },
		"file at PATH.tmp": func(path, _, planted string) error { return os.Link(planted, path+".tmp") },
		"link at PATH":     func(path, victim, _ string) error { return os.Symlink(victim, path) },
		"file at PATH":     func(path, _, planted string) error { return os.Link(planted, path) },
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			base := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
			victim, planted, path := base+".victim", base+".planted", base+".plan"
			if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(planted, []byte("planted\n"), 0o666); err != nil {
				t.Fatal(err)
			}
			os.Chmod(planted, 0o666) // whatever the umask
			if os.Getuid() == 0 {
				os.Chown(planted, 65534, 65534) // someone else's
			}
			if err := plant(path, victim, planted); err != nil {
				t.Fatal(err)
			}
			if err := WriteSaved(path, &Saved{Plan: &Plan{RunID: "run-1"}}); err != nil {
				t.Fatal(err)
			}
			for p, want := range map[string]string{victim: "precious\n", planted: "planted\n"} {
				if b, _ := os.ReadFile(p); string(b) != want {
					t.Errorf("%s now holds %q", filepath.Base(p), b)
				}
			}
			st, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
				t.Errorf("plan is %v, want a regular file 0600", st.Mode())
			}
			if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
				t.Errorf("plan owned by uid %d, want %d", uid, os.Getuid())
			}
			if s, ok, err := ReadSaved(path, ""); err != nil || !ok || s.Plan.RunID != "run-1" {
				t.Errorf("plan read back: %+v %v %v", s, ok, err)
			}
		})
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}
