// Package file is the "file" task kind: a regular file with content given
// inline (content) or copied from the role's files/ folder (source).
//
//	task "file" "motd" {
//	  path     = "/etc/motd"
//	  content  = "hello\n"        # or: source = "motd.txt" (roles/NAME/files/)
//	  owner    = "root"  group = "root"  mode = "0644"
//	  validate = "test -s %s"     # optional, run on the new file before it replaces the old
//	  state    = "present"        # or "absent"
//	}
package file

import (
	"os"
	"path/filepath"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// File is one "file" task. All the work is filestate.File's.
type File struct {
	*filestate.File
}

var (
	_ module.Module     = (*File)(nil)
	_ module.Reversible = (*File)(nil)
)

// New is the module.Factory of the "file" kind.
func New(a *module.Args) module.Module {
	s := filestate.Spec{
		Path:     filestate.PathArg(a, "path"),
		Meta:     filestate.MetaArgs(a),
		Validate: filestate.ValidateArg(a),
		Absent:   a.OneOf("state", "present", "present", "absent") == "absent",
	}
	hasContent, hasSource := a.Has("content"), a.Has("source")
	switch {
	case hasContent && hasSource:
		a.Errorf("source", "Give either content or source, not both.")
	case !hasContent && !hasSource && !s.Absent:
		a.Errorf("content", "Give the file's content, or a source file from the role's files/ folder.")
	}
	switch {
	case hasContent:
		if !a.Unknown("content") {
			s.Content, s.Known = []byte(a.String("content", false)), true
		}
		s.Source = "the task's content argument"
		s.Sensitive = a.Sensitive("content")
	case hasSource:
		a.RejectSensitive("source")
		if src := a.String("source", false); src != "" {
			s.Content, s.Known = readSource(a, src)
			s.Source = sourcePath(a, src)
		}
	}
	return &File{File: filestate.New(s)}
}

// readSource reads source from the role's files/ folder, or from the local
// machine when it is an absolute path.
func readSource(a *module.Args, src string) ([]byte, bool) {
	p := sourcePath(a, src)
	b, err := a.ReadLocal(p)
	if err != nil {
		if os.IsNotExist(err) {
			a.Errorf("source", "Source file %s not found (looked for %s).", src, p)
		} else {
			a.Errorf("source", "Cannot read source file %s: %s.", p, err)
		}
		return nil, false
	}
	return b, true
}

// sourcePath is the local path of source src.
func sourcePath(a *module.Args, src string) string {
	if filepath.IsAbs(src) {
		return src
	}
	return filepath.Join(a.RoleDir, "files", src)
}
