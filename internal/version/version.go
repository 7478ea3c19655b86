// Package version names the running skiff build, from what the Go toolchain
// stamps into the binary (runtime/debug.ReadBuildInfo): a release's module
// version, else "devel+" and the commit it was built from, else "(devel)".
package version

import (
	"regexp"
	"runtime"
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
func String() string { return Current().Version }

// Info describes a skiff build, as `skiff version` prints it.
type Info struct {
	Version  string `json:"version"`  // as String says
	Commit   string `json:"commit"`   // the full commit it was built from; "" when unknown
	Modified bool   `json:"modified"` // built from a tree with uncommitted changes
	Go       string `json:"go"`       // the Go toolchain that built it
	Platform string `json:"platform"` // GOOS/GOARCH it runs on
}

// Current describes the running skiff.
func Current() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{}
	}
	info := fromBuildInfo(bi)
	info.Go = runtime.Version()
	info.Platform = runtime.GOOS + "/" + runtime.GOARCH
	return info
}

// pseudo matches a Go pseudo-version's tail (timestamp and commit), which
// the toolchain derives from the VCS for an untagged build: the commit says
// the same, shorter.
var pseudo = regexp.MustCompile(`[-.][0-9]{14}-[0-9a-f]{12}(\+dirty)?$`)

func fromBuildInfo(bi *debug.BuildInfo) Info {
	var info Info
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	switch v := bi.Main.Version; {
	case v != "" && v != devel && !pseudo.MatchString(v):
		info.Version = v
	case info.Commit == "":
		info.Version = devel
	default:
		info.Version = "devel+" + info.Commit[:min(12, len(info.Commit))]
		if info.Modified {
			info.Version += ".dirty"
		}
	}
	return info
}
