package engine

import (
	"fmt"
	"path"
	"strings"

	"skiff/internal/inventory"
	"skiff/internal/module/shell"
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
// directory) the directories of all runs but the newest keep, the current
// run always among those kept whatever its place in the order (operators'
// clocks differ). Only real directories named like a run id count; a
// symlink is neither followed nor removed, and nothing at all is removed
// when root or its parent is a symlink. What it could not do is printed on
// stdout, each line starting with marker; it exits 0 either way.
func pruneScript(root, current string, keep int, marker string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "(\nroot=%s current=%s keep=%d marker=%s\n", shell.Quote(root), shell.Quote(current), keep, shell.Quote(marker))
	fmt.Fprintf(&b, "parent=%s\n", shell.Quote(path.Dir(root)))
	b.WriteString(`LC_ALL=C
if [ -L "$root" ] || [ -L "$parent" ] || [ ! -d "$root" ]; then
  echo "$marker $root is not a directory of its own (a symlink?): left as is"
  exit 0
fi
set --
for d in "$root"/` + runDirGlob + `; do
  [ "$d" = "$root/$current" ] && continue
  if [ -d "$d" ] && [ ! -L "$d" ]; then set -- "$@" "$d"; fi
done
n=$(( $# - keep + 1 ))
while [ "$n" -gt 0 ]; do
  rm -rf -- "$1" || echo "$marker could not remove $1"
  shift
  n=$(( n - 1 ))
done
)
`)
	return b.String()
}
