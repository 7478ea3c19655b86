package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/plan"
)

// --tags and --skip-tags parse into plan's and apply's options, as lists.
func TestParseTagOptions(t *testing.T) {
	want := config.TagFilter{Only: []string{"tls", "web"}, Skip: []string{"slow", "db"}}
	args := []string{"-i", "inv.hcl", "site.hcl", "--tags", "tls,web", "--skip-tags", "slow", "--skip-tags", "db"}
	p, err := parsePlan(args)
	if err != nil || !reflect.DeepEqual(p.tags, want) {
		t.Errorf("plan: %+v, %v; want %+v", p.tags, err, want)
	}
	a, err := parseApply(append(args, "--yes"))
	if err != nil || !reflect.DeepEqual(a.tags, want) {
		t.Errorf("apply: %+v, %v; want %+v", a.tags, err, want)
	}
	if v, err := parseValidate([]string{"-i", "inv.hcl", "site.hcl", "--tags", "tls"}); err == nil || !strings.Contains(err.Error(), "unknown flag: --tags") {
		t.Errorf("validate takes --tags: %+v, %v", v, err)
	}
}

// A saved plan carries its tags: apply PLANFILE runs with them, and
// refuses others.
func TestSavedPlanCarriesItsTags(t *testing.T) {
	s := &plan.Saved{Inventory: "/i.hcl", Playbook: "/p.hcl", Tags: []string{"tls"}, SkipTags: []string{"db"}}
	o, err := savedOptions(applyOptions{}, s)
	if err != nil || !reflect.DeepEqual(o.tags, config.TagFilter{Only: []string{"tls"}, Skip: []string{"db"}}) {
		t.Errorf("saved plan's tags: %+v, %v", o.tags, err)
	}
	given, err := parseApply([]string{"p.plan", "--tags", "web"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := savedOptions(given, s); err == nil || !strings.Contains(err.Error(), "--tags") {
		t.Errorf("apply PLANFILE --tags: %v", err)
	}
}

// plan --tags with a tag the playbook gives nowhere stops before any host
// is reached, with the likely tag.
func TestPlanRefusesAnUnknownTag(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"inv.hcl":            `host "web1" { address = "192.0.2.1" }`,
		"playbooks/site.hcl": `play "web" { hosts = "all"  roles = ["r"] }`,
		"roles/r/role.hcl":   "task \"command\" \"cert\" {\n  command = \"true\"\n  tags = [\"tls\"]\n}\n",
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, flag := range []string{"--tags", "--skip-tags"} {
		code, _, stderr := skiffMain(t, "plan", "-i", filepath.Join(dir, "inv.hcl"), filepath.Join(dir, "playbooks/site.hcl"), flag, "tsl")
		if code != 1 || !strings.Contains(stderr, flag+" tsl: no task, role or play") || !strings.Contains(stderr, `Did you mean "tls"?`) {
			t.Errorf("%s tsl: exit %d\n%s", flag, code, stderr)
		}
		if strings.Contains(stderr, "192.0.2.1") {
			t.Errorf("%s tsl: a host was reached:\n%s", flag, stderr)
		}
	}
}
