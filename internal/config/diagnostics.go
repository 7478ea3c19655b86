package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// WriteDiagnostics prints diags as `file:line,col: summary: detail`, followed
// by the source line and a marker under the range, when the source is known.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File) {
	for _, d := range diags {
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
		f, known := files[r.Filename]
		if !known || f == nil { // a template or other file parsed elsewhere
			if src, err := os.ReadFile(r.Filename); err == nil {
				f, known = &hcl.File{Bytes: src}, true
			}
		}
		if known {
			r = relocate(r, f.Bytes)
		}
		fmt.Fprintf(w, "%s:%d,%d: %s: %s\n", r.Filename, r.Start.Line, r.Start.Column, sev, msg)
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
