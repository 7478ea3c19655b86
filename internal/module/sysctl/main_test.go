package sysctl

import (
	"os"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/fileedit"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// TestMain stages uploads, keeps digest records, persists parameters and
// finds the kernel's (files standing for /proc/sys) in folders of the
// test's own.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-sysctl-")
	if err != nil {
		panic(err)
	}
	filestate.StagingDir = dir + "/staging"
	fileedit.DigestDir = dir + "/digests"
	Dir = dir + "/sysctl.d"
	procRoot = dir + "/proc"
	for _, d := range []string{Dir, procRoot + "/net/core", procRoot + "/net/ipv4"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			panic(err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
