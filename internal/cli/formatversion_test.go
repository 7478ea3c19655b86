package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/jsondoc"
)

// TestJSONOutputHasFormatVersion: the documents of --output json start
// with format_version, so that scripts can tell which format they read.
func TestJSONOutputHasFormatVersion(t *testing.T) {
	inv := siteWithRuns(t)
	for _, args := range [][]string{
		{"runs", "-i", inv, "-o", "json"},
		{"inventory", "-i", inv, "-o", "json"},
		{"version", "-o", "json"},
	} {
		code, out, errOut := skiffMain(t, args...)
		if code != 0 {
			t.Fatalf("skiff %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		if !strings.HasPrefix(out, "{\n  \"format_version\": 1,\n") {
			t.Errorf("skiff %s printed\n%s\nwant format_version first", strings.Join(args, " "), out)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("skiff %s: %v", strings.Join(args, " "), err)
		}
		if doc["format_version"] != float64(jsondoc.FormatVersion) {
			t.Errorf("skiff %s: format_version = %v", strings.Join(args, " "), doc["format_version"])
		}
	}
}
