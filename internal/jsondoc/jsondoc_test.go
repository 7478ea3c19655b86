package jsondoc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestWriteJSONFormatVersion: every document starts with format_version
// and keeps the fields of the value it prints, in their order.
func TestWriteJSONFormatVersion(t *testing.T) {
	type host struct {
		Name string `json:"name"`
	}
	for _, tc := range []struct {
		doc  any
		want string
	}{
		{struct {
			RunID string `json:"run_id"`
			Hosts []host `json:"hosts"`
		}{"r1", []host{{"web1"}}}, "{\n  \"format_version\": 1,\n  \"run_id\": \"r1\",\n  \"hosts\": [\n    {\n      \"name\": \"web1\"\n    }\n  ]\n}\n"},
		{struct{}{}, "{\n  \"format_version\": 1\n}\n"},
		{map[string]int{"b": 2, "a": 1}, "{\n  \"format_version\": 1,\n  \"a\": 1,\n  \"b\": 2\n}\n"},
	} {
		var b bytes.Buffer
		if err := WriteJSON(&b, tc.doc); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("WriteJSON(%#v) =\n%s\nwant\n%s", tc.doc, b.String(), tc.want)
		}
		var m map[string]any
		if err := json.Unmarshal(b.Bytes(), &m); err != nil || m["format_version"] != float64(FormatVersion) {
			t.Errorf("format_version = %v (%v), want %d", m["format_version"], err, FormatVersion)
		}
	}
}

func TestWriteJSONRefusesNonObjects(t *testing.T) {
	for _, doc := range []any{[]int{1}, "text", nil} {
		var b bytes.Buffer
		if err := WriteJSON(&b, doc); err == nil || !strings.Contains(err.Error(), "object") {
			t.Errorf("WriteJSON(%#v) = %q, %v; want an error", doc, b.String(), err)
		}
	}
}
