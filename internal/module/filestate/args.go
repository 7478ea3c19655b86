package filestate

import (
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
)

// PathArg reads the required argument name as an absolute path, cleaned.
// It returns "" (and records why, unless the value is just unknown) when
// the path is unusable.
func PathArg(a *module.Args, name string) string {
	a.RejectSensitive(name)
	p := a.String(name, true)
	if p == "" {
		if a.Has(name) && !a.Unknown(name) {
			a.Errorf(name, "%q must not be empty.", name)
		}
		return ""
	}
	if !path.IsAbs(p) {
		a.Errorf(name, "%q must be an absolute path, not %q.", name, p)
		return ""
	}
	if strings.ContainsAny(p, "\n\x00") {
		a.Errorf(name, "%q must not contain a newline or NUL.", name)
		return ""
	}
	return path.Clean(p)
}

// MetaArgs reads owner, group and mode. Without owner, a task that runs
// as another user (become_user) has its files owned by that user.
func MetaArgs(a *module.Args) Meta {
	a.RejectSensitive("owner", "group", "mode")
	var m Meta
	m.Owner = a.String("owner", false)
	if user := a.BecomeUser(); !a.Has("owner") {
		m.Owner = user
	}
	m.Group = a.String("group", false)
	for _, n := range []string{"owner", "group"} {
		if v := a.String(n, false); strings.ContainsAny(v, ": \t\n") {
			a.Errorf(n, "%q is not a valid %s name.", v, n)
		}
	}
	mode, ok := a.Mode("mode")
	m.Mode, m.HasMode = uint32(mode), ok
	return m
}

// ValidateArg reads the optional validate command, which must contain %s.
func ValidateArg(a *module.Args) string {
	a.RejectSensitive("validate")
	v := a.String("validate", false)
	if v != "" && !strings.Contains(v, "%s") {
		a.Errorf("validate", "validate must contain %%s, which stands for the file to check.")
		return ""
	}
	return v
}
