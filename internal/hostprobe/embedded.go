//go:build skiffhelpers

package hostprobe

import "embed"

// embedded holds the static Linux helpers that `make build` and
// `make release` build from the same source just before skiff itself, as
// helpers/skiff-linux-GOARCH.gz, for the processors the skiff being built
// cannot serve itself, each with its name (.gz.id: the first 8 bytes of
// its sha256, in hex). Only builds with the skiffhelpers tag embed them,
// so a plain go build or go install never embeds a stale helper.
//
//go:embed helpers/skiff-linux-*
var embedded embed.FS
