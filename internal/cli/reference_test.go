package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/module/builtin"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/pki"
)

// docsDir is the repository's reference, docs/.
const docsDir = "../../docs"

// headingName matches a reference heading naming a kind or a function:
// "## `package`", "#### `tls_cert`".
var headingName = regexp.MustCompile("^#{2,4} `([a-z_0-9]+)`\\s*$")

// sections returns the names of the headings of docs/page, each with the
// text under it (up to the next heading of a name).
func sections(t *testing.T, page string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(docsDir, page))
	if err != nil {
		t.Fatalf("the reference page docs/%s: %v", page, err)
	}
	out := map[string]string{}
	name := ""
	for _, line := range strings.Split(string(b), "\n") {
		if m := headingName.FindStringSubmatch(line); m != nil {
			name = m[1]
			if _, dup := out[name]; dup {
				t.Errorf("docs/%s has two sections for %q", page, name)
			}
			out[name] = ""
			continue
		}
		if name != "" {
			out[name] += line + "\n"
		}
	}
	return out
}

// compare reports names registered without a section, and sections that
// name nothing registered.
func compare(t *testing.T, page, what string, registered map[string]bool, documented map[string]string) {
	t.Helper()
	var missing, stale []string
	for n := range registered {
		if _, ok := documented[n]; !ok {
			missing = append(missing, n)
		}
	}
	for n := range documented {
		if !registered[n] {
			stale = append(stale, n)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("docs/%s has no section (a heading such as \"## `%s`\") for the %s %s", page, missing[0], what, strings.Join(missing, ", "))
	}
	if len(stale) > 0 {
		t.Errorf("docs/%s documents %s that skiff does not have: %s", page, what, strings.Join(stale, ", "))
	}
}

// TestReferenceCoversEveryKind: every task kind skiff registers has its
// section in docs/kinds.md, and every argument that section's tables name
// is one the kind reads.
func TestReferenceCoversEveryKind(t *testing.T) {
	reg := builtin.Registry()
	kinds := map[string]bool{}
	for k := range reg {
		kinds[k] = true
	}
	docs := sections(t, "kinds.md")
	compare(t, "kinds.md", "task kinds", kinds, docs)

	argRow := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|")
	for kind, text := range docs {
		factory, ok := reg[kind]
		if !ok {
			continue
		}
		vals := map[string]cty.Value{}
		for _, m := range argRow.FindAllStringSubmatch(text, -1) {
			vals[m[1]] = cty.NullVal(cty.DynamicPseudoType)
		}
		if kind == "ufw" { // the attributes of a rule, in its own table
			for _, a := range []string{"port", "proto", "from", "action", "comment"} {
				delete(vals, a)
			}
		}
		if len(vals) == 0 {
			t.Errorf("docs/kinds.md: the section of %s lists no argument", kind)
		}
		_, diags := moduletest.Build(factory, moduletest.Args(kind, "t", vals))
		for _, d := range diags {
			if d.Summary == "Unsupported argument" {
				t.Errorf("docs/kinds.md documents an argument %s does not have: %s", kind, d.Detail)
			}
		}
	}
}

// TestReferenceCoversEveryFunction: every function expressions may call
// (the config's table, and the CA's functions a run adds) has its section
// in docs/functions.md.
func TestReferenceCoversEveryFunction(t *testing.T) {
	funcs := map[string]bool{}
	for n := range config.Functions().Functions {
		funcs[n] = true
	}
	for n := range pki.Functions(pki.Lazy(t.TempDir())) {
		funcs[n] = true
	}
	compare(t, "functions.md", "functions", funcs, sections(t, "functions.md"))
}
