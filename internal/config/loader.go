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
	}
	return f, diags
}
