// Package jsondoc is the envelope of every JSON document skiff prints
// with --output json: one object whose first field is format_version.
package jsondoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// FormatVersion is the version of the JSON documents skiff prints with
// --output json. It changes only when a field is removed, renamed or given
// another meaning; fields may be added within a version.
const FormatVersion = 1

// WriteJSON prints doc, which must encode as a JSON object, as one indented
// JSON document whose first field is "format_version". Every document the
// CLI prints on stdout goes through it.
func WriteJSON(w io.Writer, doc any) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if len(b) < 2 || b[0] != '{' {
		return fmt.Errorf("JSON output must be an object, not %s", b)
	}
	body := b[1:]
	sep := ","
	if body[0] == '}' {
		sep = ""
	}
	var obj bytes.Buffer
	fmt.Fprintf(&obj, `{"format_version":%d%s`, FormatVersion, sep)
	obj.Write(body)
	var out bytes.Buffer
	if err := json.Indent(&out, obj.Bytes(), "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}
