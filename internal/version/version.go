// Package version names the running skiff build, from what the Go toolchain
// stamps into the binary (runtime/debug.ReadBuildInfo): a release's module
// version, else "devel+" and the commit it was built from, else "(devel)".
package version

import (
	"regexp"
	"runtime/debug"
)

// Unknown stands for the version of a run recorded by a skiff that did not
// say which it was.
const Unknown = "unknown"

// devel is what a build without a module version or a VCS revision is.
const devel = "(devel)"

// String returns the running skiff's version, such as "v1.4.0",
// "devel+1a2b3c4d5e6f" (".dirty" when built from a modified tree) or
// "(devel)".
func String() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return devel
	}
	return fromBuildInfo(bi)
}

// pseudo matches a Go pseudo-version's tail (timestamp and commit), which
// the toolchain derives from the VCS for an untagged build: the commit says
// the same, shorter.
var pseudo = regexp.MustCompile(`[-.][0-9]{14}-[0-9a-f]{12}(\+dirty)?$`)

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != devel && !pseudo.MatchString(v) {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return devel
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "devel+" + rev
	if modified == "true" {
		v += ".dirty"
	}
	return v
}
