package mysql

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

// fakeClient answers SQL on stdin statement by statement, in order, as
// the unbuffered client does: literals and the version for SELECT, an
// acct row and, for SHOW GRANTS, a grant with an IDENTIFIED part for
// 10.0.0.5 and ERROR 1141 (on stderr) for other hosts. It logs its calls.
const fakeClient = `#!/bin/sh
echo call >> "$FAKE_MYSQL/calls"
while IFS= read -r l; do
	case $l in
	"SELECT CONCAT('skiff-server-version=', VERSION());") echo "skiff-server-version=10.11.6-MariaDB" ;;
	"SELECT CONCAT('acct'"*) printf 'acct\t10.0.0.5\tmysql_native_password\tANY\t*ABC\n' ;;
	"SHOW GRANTS FOR 'foobar'@'10.0.0.5';") echo 'GRANT USAGE ON *.* TO ` + "`foobar`@`10.0.0.5`" + ` IDENTIFIED BY PASSWORD *ABC WITH GRANT OPTION' ;;
	"SHOW GRANTS FOR "*) echo "ERROR 1141 (42000) at line 5: There is no such grant defined" >&2 ;;
	"SELECT DEFAULT_CHARACTER_SET_NAME"*"'foobar';") echo utf8mb4 ;;
	"SELECT DEFAULT_CHARACTER_SET_NAME"*) ;;
	"SELECT '"*"';") l=${l#"SELECT '"}; echo "${l%"';"}" ;;
	esac
done
exit 0
`

// One client call answers every database and user probe of a batch, each
// byte for byte as its own fragment does.
func TestAnswerQueriesMatchesTheFragments(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	for _, n := range []string{"mysql", "mariadb"} {
		os.WriteFile(filepath.Join(bin, n), []byte(fakeClient), 0o755)
	}
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	t.Setenv("FAKE_MYSQL", dir)
	probes := []interface {
		Probe() string
		NativeProbe() (string, any, bool)
	}{
		appUser(t, nil),
		database(t, map[string]cty.Value{"name": cty.StringVal("foobar")}),
		database(t, map[string]cty.Value{"name": cty.StringVal("absent")}),
	}
	var queries [][]byte
	for _, p := range probes {
		kind, q, ok := p.NativeProbe()
		if !ok || kind != NativeQueries {
			t.Fatal("no native probe")
		}
		raw, _ := json.Marshal(q)
		queries = append(queries, raw)
	}
	got := AnswerQueries(queries)
	if calls, _ := os.ReadFile(filepath.Join(dir, "calls")); strings.Count(string(calls), "call") != 1 {
		t.Errorf("%d client calls for 3 probes, want 1", strings.Count(string(calls), "call"))
	}
	if u := string(got[0].Stdout); !strings.Contains(u, "TO `foobar`@`10.0.0.5` WITH GRANT OPTION\n") || strings.Contains(u, "IDENTIFIED") || !strings.Contains(u, "ERROR 1141") {
		t.Errorf("user probe:\n%s", u)
	}
	if d := string(got[1].Stdout); !strings.HasSuffix(d, "[db]\nutf8mb4\n[end]\n") {
		t.Errorf("database probe:\n%s", d)
	}
	for i, p := range probes {
		cmd := exec.Command("/bin/sh")
		cmd.Stdin = strings.NewReader("(\n" + p.Probe() + "\n)\n")
		want, _ := cmd.Output()
		if !got[i].OK || !bytes.Equal(got[i].Stdout, want) {
			t.Errorf("probe %d: native answer (ok %v) differs:\n--- fragment\n%s--- native\n%s", i, got[i].OK, want, got[i].Stdout)
		}
	}
}
