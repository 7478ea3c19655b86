package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"
	cases := []struct {
		name     string
		version  string
		settings []debug.BuildSetting
		want     string
	}{
		{"tagged release", "v1.4.0", vcs(rev, "false"), "v1.4.0"},
		{"tagged release, modified tree", "v1.4.0+dirty", vcs(rev, "true"), "v1.4.0+dirty"},
		{"untagged commit", "v0.0.0-20251207124501-1a2b3c4d5e6f", vcs(rev, "false"), "devel+1a2b3c4d5e6f"},
		{"after a tag, modified tree", "v1.4.1-0.20251207124501-1a2b3c4d5e6f+dirty", vcs(rev, "true"), "devel+1a2b3c4d5e6f.dirty"},
		{"no module version, a commit", "(devel)", vcs(rev, "false"), "devel+1a2b3c4d5e6f"},
		{"no module version, no VCS", "(devel)", nil, "(devel)"},
		{"nothing at all", "", nil, "(devel)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: "skiff", Version: c.version}, Settings: c.settings}
			if got := fromBuildInfo(bi).Version; got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestStringNamesThisBuild(t *testing.T) {
	if got := String(); got == "" || got == Unknown {
		t.Errorf("String() = %q", got)
	}
}

func TestFromBuildInfoCommit(t *testing.T) {
	const rev = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}}
	if got := fromBuildInfo(bi); got.Commit != rev || !got.Modified || got.Version != "v1.4.0" {
		t.Errorf("got %+v", got)
	}
	if got := fromBuildInfo(&debug.BuildInfo{}); got.Commit != "" || got.Modified {
		t.Errorf("without VCS: %+v", got)
	}
}
