package acme

import (
	"os"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// TestMain stages uploads in a folder of the test's own, not the host
// folder skiff uses on managed hosts.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-staging-")
	if err != nil {
		panic(err)
	}
	filestate.StagingDir = dir + "/staging"
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
