//go:build !skiffhelpers

package hostprobe

import "embed"

// embedded is empty: a build without the skiffhelpers tag embeds no helper
// (see embedded.go).
var embedded embed.FS
