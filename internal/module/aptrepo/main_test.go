package aptrepo

import (
	"os"
	"testing"

	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// TestMain writes the sources and keys, stages uploads and keeps digest
// records in a folder of the test's own, never in the host's apt folders.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-aptrepo-")
	if err != nil {
		panic(err)
	}
	filestate.StagingDir = dir + "/staging"
	SourcesDir = dir + "/sources.list.d"
	KeyringDir = dir + "/keyrings" // made by the first apply
	digestDir = dir + "/digests"
	if err := os.MkdirAll(SourcesDir, 0o755); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
