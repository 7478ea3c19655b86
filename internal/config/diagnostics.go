package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/skiffdeploy/skiff/internal/suggest"
)

// WriteDiagnostics prints diags as `file:line:col: summary: detail`, followed
// by the source line and a marker under the range, when the source is known.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File) {
	for _, d := range Explain(diags) {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject == nil {
			fmt.Fprintf(w, "%s: %s\n", sev, msg)
			continue
		}
		r := *d.Subject
		f, known := source(r.Filename, files)
		fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", r.Filename, r.Start.Line, r.Start.Column, sev, msg)
		if known {
			if line, ok := sourceLine(f.Bytes, r.Start.Line); ok {
				width := 1
				if r.End.Line == r.Start.Line && r.End.Column > r.Start.Column {
					width = r.End.Column - r.Start.Column
				}
				prefix := fmt.Sprintf("%5d | ", r.Start.Line)
				fmt.Fprintf(w, "%s%s\n", prefix, line)
				pad := strings.Repeat(" ", len(prefix)-2) + "| " + expandTabs(line, r.Start.Column-1)
				fmt.Fprintf(w, "%s%s\n", pad, strings.Repeat("^", width))
			}
		}
	}
}

// source is the source of file: the loader's, or read from disk (a
// template or other file parsed elsewhere), when it can be read.
func source(file string, files map[string]*hcl.File) (*hcl.File, bool) {
	if f, ok := files[file]; ok && f != nil {
		return f, true
	}
	if src, err := os.ReadFile(file); err == nil {
		return &hcl.File{Bytes: src}, true
	}
	return nil, false
}

// Diagnostic is one diagnostic in JSON output.
type Diagnostic struct {
	Severity string `json:"severity"` // "error" or "warning"
	Summary  string `json:"summary"`
	Detail   string `json:"detail,omitempty"`
	// Range is where it points, when it points into a file.
	Range *DiagnosticRange `json:"range,omitempty"`
}

// DiagnosticRange is a span of a file: lines and columns from 1, the end
// exclusive, as HCL counts them.
type DiagnosticRange struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	EndLine   int    `json:"end_line"`
	EndColumn int    `json:"end_column"`
}

// DiagnosticsJSON turns diags into JSON objects, positions as the user
// wrote the files (as WriteDiagnostics prints them).
func DiagnosticsJSON(diags hcl.Diagnostics) []Diagnostic {
	out := make([]Diagnostic, 0, len(diags))
	for _, d := range Explain(diags) {
		j := Diagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			j.Severity = "warning"
		}
		if r := d.Subject; r != nil {
			j.Range = &DiagnosticRange{File: r.Filename, Line: r.Start.Line, Column: r.Start.Column, EndLine: r.End.Line, EndColumn: r.End.Column}
		}
		out = append(out, j)
	}
	return out
}

// expandTabs returns whitespace as wide as the first n bytes of line, keeping tabs.
func expandTabs(line string, n int) string {
	if n > len(line) {
		n = len(line)
	}
	var b strings.Builder
	for _, c := range line[:n] {
		if c == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func sourceLine(src []byte, n int) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for i := 1; sc.Scan(); i++ {
		if i == n {
			return sc.Text(), true
		}
	}
	return "", false
}

// elemRange is the range of element i of a list expression written as
// [a, b, …], else the whole expression's; def when expr is nil.
func elemRange(expr hcl.Expression, i int, def hcl.Range) hcl.Range {
	if expr == nil {
		return def
	}
	if t, ok := expr.(*hclsyntax.TupleConsExpr); ok && i >= 0 && i < len(t.Exprs) {
		return t.Exprs[i].Range()
	}
	return expr.Range()
}

// unsupportedAttr is the name in HCL's "Unsupported attribute" detail.
var unsupportedAttr = regexp.MustCompile(`attribute named "([^"]+)"`)

// Explain rewrites HCL's diagnostics about an object's missing attribute
// when the object is var: "Unknown variable", naming the variable and the
// nearest declared one, rather than "This object does not have an attribute".
func Explain(diags hcl.Diagnostics) hcl.Diagnostics {
	for i, d := range diags {
		if d.Summary != "Unsupported attribute" || d.Expression == nil || d.EvalContext == nil {
			continue
		}
		m := unsupportedAttr.FindStringSubmatch(d.Detail)
		tr, tdiags := hcl.AbsTraversalForExpr(d.Expression)
		if m == nil || tdiags.HasErrors() || len(tr) < 2 || tr.RootName() != "var" {
			continue
		}
		if step, ok := tr[1].(hcl.TraverseAttr); !ok || step.Name != m[1] {
			continue
		}
		var declared []string
		for ctx := d.EvalContext; ctx != nil; ctx = ctx.Parent() {
			if v, ok := ctx.Variables["var"]; ok && v.Type().IsObjectType() {
				for n := range v.Type().AttributeTypes() {
					declared = append(declared, n)
				}
				break
			}
		}
		sort.Strings(declared)
		e := *d
		e.Summary = "Unknown variable"
		e.Detail = fmt.Sprintf("There is no variable named %q.%s", m[1], suggest.DidYouMean(m[1], declared))
		diags[i] = &e
	}
	return diags
}
