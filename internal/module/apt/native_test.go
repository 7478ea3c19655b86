package apt

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

// fakeSortedDpkgQuery prints, as dpkg-query -W does, the installed packages
// among its arguments sorted by name (and exits 1 when one is unknown);
// it logs its calls.
const fakeSortedDpkgQuery = `#!/bin/sh
echo "$*" >> "$FAKE_DPKG/calls"
shift 2
rc=0
for n in "$@"; do grep -q "^$n " "$FAKE_DPKG/db" || rc=1; done
for n in "$@"; do grep "^$n " "$FAKE_DPKG/db"; done | sort -u
exit $rc
`

// useDpkgQuery makes the helper run dpkg-query (a fake) rather than read
// the status file, for the rest of the test.
func useDpkgQuery(t *testing.T) {
	old := dpkgAdminDir
	dpkgAdminDir = filepath.Join(t.TempDir(), "no-dpkg-database")
	t.Cleanup(func() { dpkgAdminDir = old })
}

// One dpkg-query answers every package task of a batch, each with the
// lines its own call prints.
func TestAnswerPackagesMatchesTheFragments(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "dpkg-query"), []byte(fakeSortedDpkgQuery), 0o755)
	os.WriteFile(filepath.Join(dir, "db"), []byte("nginx install ok installed 1.22\nsudo install ok installed 1.9\nold deinstall ok config-files 0.1\n"), 0o644)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_DPKG", dir)
	useDpkgQuery(t)
	lists := [][]string{{"sudo", "nginx"}, {"missing"}, {"nginx"}, {"old", "missing", "sudo"}}
	var queries [][]byte
	var pkgs []*Package
	for _, names := range lists {
		var vals []cty.Value
		for _, n := range names {
			vals = append(vals, cty.StringVal(n))
		}
		p := build(t, map[string]cty.Value{"names": cty.ListVal(vals)})
		kind, q, ok := p.NativeProbe()
		if !ok || kind != NativePackages {
			t.Fatalf("%v: no native probe", names)
		}
		raw, _ := json.Marshal(q)
		queries = append(queries, raw)
		pkgs = append(pkgs, p)
	}
	got := AnswerPackages(queries)
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	os.Remove(filepath.Join(dir, "calls"))
	if n := strings.Count(string(calls), "-W"); n != 1 {
		t.Errorf("dpkg-query ran %d times for 4 tasks, want once:\n%s", n, calls)
	}
	for i, p := range pkgs {
		cmd := exec.Command("/bin/sh")
		cmd.Stdin = strings.NewReader("(\n" + p.Probe() + "\n)\n")
		want, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if !got[i].OK || !bytes.Equal(got[i].Stdout, want) {
			t.Errorf("%v: native answer (ok %v) differs:\n--- fragment\n%s--- native\n%s", lists[i], got[i].OK, want, got[i].Stdout)
		}
	}
	for _, vals := range []map[string]cty.Value{
		{"name": cty.StringVal("nginx"), "state": cty.StringVal("latest")},
		{"name": cty.StringVal("libc6:amd64")},
	} {
		if _, _, ok := build(t, vals).NativeProbe(); ok {
			t.Errorf("%v: native probe offered; the fragment must run", vals)
		}
	}
}
