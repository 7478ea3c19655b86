package cron

import (
	"os"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// TestMain stages uploads and writes the jobs' files in a folder of the
// test's own, not the host folders skiff uses on managed hosts.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-cron-")
	if err != nil {
		panic(err)
	}
	filestate.StagingDir = dir + "/staging"
	Dir = dir + "/cron.d"
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
