package download

import (
	"os"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// TestMain stages downloads and keeps digest records in a folder of the
// test's own, not the host folders skiff uses on managed hosts.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-download-")
	if err != nil {
		panic(err)
	}
	filestate.StagingDir = dir + "/staging"
	digestDir = dir + "/digests"
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
