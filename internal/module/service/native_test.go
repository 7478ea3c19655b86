package service

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// fakeShow is a systemctl whose "show" prints, for each unit argument in
// turn, the file $FAKE_UNITS/UNIT (a blank line between units), as
// systemctl show does; it logs every call to $FAKE_UNITS/calls.
const fakeShow = `#!/bin/sh
echo "$*" >> "$FAKE_UNITS/calls"
[ "$1" = show ] || exit 1
shift
first=1
while [ $# -gt 0 ]; do
	case $1 in
	-p) shift 2 ;;
	*) [ $first = 1 ] || echo; first=0; cat "$FAKE_UNITS/$1"; shift ;;
	esac
done
`

// One systemctl call answers every service of a batch, each exactly as
// its own fragment's call would; units needing is-enabled are declined.
// (The exec path: D-Bus is off, as on a host without systemd's socket.)
func TestAnswerUnitsMatchesTheFragments(t *testing.T) {
	noDBus(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fakeShow), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_UNITS", dir)
	units := map[string]string{
		"nginx":   probe("loaded", "no", "active", "enabled"),
		"haproxy": probe("loaded", "yes", "inactive", "disabled"),
		"nosuch":  probe("not-found", "no", "inactive", ""),
		"sysv":    probe("loaded", "no", "active", "generated"),
	}
	names := []string{"nginx", "haproxy", "nosuch", "sysv", "nginx"}
	var queries [][]byte
	for _, n := range names {
		os.WriteFile(filepath.Join(dir, n), []byte(units[n]), 0o644)
		s := moduletestBuild(t, n)
		_, q, ok := s.NativeProbe()
		if !ok {
			t.Fatal("no native probe")
		}
		raw, _ := json.Marshal(q)
		queries = append(queries, raw)
	}
	got := AnswerUnits(queries)
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	if n := strings.Count(string(calls), "\n"); n != 1 {
		t.Errorf("systemctl ran %d times for 5 services, want once:\n%s", n, calls)
	}
	for i, n := range names {
		declined := n == "nosuch" || n == "sysv" // UnitFileState empty or generated
		if got[i].OK == declined {
			t.Errorf("%s: answered %v, want %v", n, got[i].OK, !declined)
			continue
		}
		if declined {
			continue
		}
		cmd := exec.Command("/bin/sh")
		cmd.Stdin = strings.NewReader("(\n" + moduletestBuild(t, n).Probe() + "\n)\n")
		want, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[i].Stdout, want) {
			t.Errorf("%s: native answer differs:\n--- fragment\n%s--- native\n%s", n, want, got[i].Stdout)
		}
	}
}

func moduletestBuild(t *testing.T, name string) *Service {
	s := build(t, map[string]cty.Value{"state": cty.StringVal("started")})
	s.name = name
	return s
}
