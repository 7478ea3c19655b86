package engine

import (
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// runDirGlob matches the names NewRunID gives: a host's runs directory
// holds one directory per run that changed it, named so.
const runDirGlob = "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]"

// keepRuns is how many runs' directories host keeps.
func keepRuns(h *inventory.Host) int {
	if h == nil || h.Conn.KeepRuns < 1 {
		return inventory.DefaultKeepRuns
	}
	return h.Conn.KeepRuns
}

// pruneScript is an sh fragment that removes from root (a host's runs
// directory) the directories of all runs but the newest keep, newest by
// the directories' modification times on the host, the current run always
// among those kept. Only real directories named like a run id count; a
// symlink is neither followed nor removed, and nothing at all is removed
// when root or its parent is a symlink. What it could not do is printed on
// stdout, a line each; it exits 0 either way.
func pruneScript(root, current string, keep int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "(\nroot=%s current=%s keep=%d\n", shell.Quote(root), shell.Quote(current), keep)
	fmt.Fprintf(&b, "parent=%s\n", shell.Quote(path.Dir(root)))
	b.WriteString(`LC_ALL=C
if [ -L "$root" ] || [ -L "$parent" ] || [ ! -d "$root" ]; then
  echo "$root is not a directory of its own (a symlink?): left as is"
  exit 0
fi
# Newest first by the host's own clock: runs on a host follow one another
# (the deploy lock), and operators' clocks, which name the runs, differ.
ls -dt -- "$root"/` + runDirGlob + ` 2>/dev/null | {
  n=0
  while IFS= read -r d; do
    [ "$d" = "$root/$current" ] && continue
    [ -d "$d" ] && [ ! -L "$d" ] || continue
    n=$(( n + 1 ))
    [ "$n" -lt "$keep" ] && continue
    rm -rf -- "$d" || echo "could not remove $d"
  done
}
)
`)
	return b.String()
}
