// Package config decodes skiff's HCL files: inventories, roles and playbooks.
// Every decoded object keeps its source range, and every problem a user can
// fix is an hcl.Diagnostic pointing at its file and line.
package config

import (
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Loader parses files and remembers their sources, so diagnostics can quote
// the offending line. One Loader serves one command.
type Loader struct {
	parser *hclparse.Parser
}

// NewLoader returns an empty Loader.
func NewLoader() *Loader { return &Loader{parser: hclparse.NewParser()} }

// Files maps each parsed file name to its source, for diagnostic rendering.
func (l *Loader) Files() map[string]*hcl.File { return l.parser.Files() }

func (l *Loader) parse(path, what string) (*hcl.File, hcl.Diagnostics) {
	if _, err := os.Stat(path); err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Cannot read %s", what),
			Detail:   err.Error(),
		}}
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Cannot read %s", what), Detail: err.Error()}}
	}
	f, diags := l.parser.ParseHCL(splitOneLineBlocks(src, path), path)
	if f != nil {
		f.Bytes = src // diagnostics quote what the user wrote
		relocateAST(f, src)
	}
	relocateAST(diags, src)
	return f, trimStringCascade(diags)
}

// at names where r starts ("inv.hcl:4"), for messages that mention
// another place.
func (l *Loader) at(r hcl.Range) string {
	return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line)
}

// Where is where r starts as the user wrote the file: "inv.hcl:4:3".
func (l *Loader) Where(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// trimStringCascade keeps the first error of an unterminated string. HCL
// then pairs every later quote the wrong way round and reports each line
// after it as another multi-line string, and the same string again as
// unterminated: noise that hides the one mistake.
func trimStringCascade(diags hcl.Diagnostics) hcl.Diagnostics {
	var first *hcl.Diagnostic
	for _, d := range diags {
		if d.Summary == "Invalid multi-line string" && d.Subject != nil {
			first = d
			break
		}
	}
	if first == nil {
		return diags
	}
	var out hcl.Diagnostics
	dropped := false
	for _, d := range diags {
		later := d != first && d.Subject != nil && d.Subject.Filename == first.Subject.Filename &&
			d.Subject.Start.Byte >= first.Subject.Start.Byte
		if later && (d.Summary == "Invalid multi-line string" || d.Summary == "Unterminated template string") {
			dropped = true
			continue
		}
		out = append(out, d)
	}
	if dropped {
		c := *first
		c.Summary = "Unterminated string"
		c.Detail = "This quoted string has no closing quote before the end of its line (a quoted string cannot span lines: write \\n, or use a heredoc)."
		for i, d := range out {
			if d == first {
				out[i] = &c
			}
		}
	}
	return out
}
