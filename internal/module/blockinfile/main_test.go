package blockinfile

import (
	"os"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/fileedit"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// TestMain stages uploads and keeps digest records in a folder of the
// test's own, not the host folders skiff uses on managed hosts.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-blockinfile-")
	if err != nil {
		panic(err)
	}
	filestate.StagingDir = dir + "/staging"
	fileedit.DigestDir = dir + "/digests"
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
