package unarchive

import (
	"os"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// TestMain stages uploads and keeps records in a folder of the test's
// own, not the host folders skiff uses on managed hosts.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-unarchive-")
	if err != nil {
		panic(err)
	}
	filestate.StagingDir = dir + "/staging"
	RecordDir = dir + "/records"
	digestDir = dir + "/digests"
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
