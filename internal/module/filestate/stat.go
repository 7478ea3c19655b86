// Package filestate is the state of one path on a host as skiff manages it:
// a probe that reports its type, mode, owner and (for regular files) sha256
// and content, and the File module logic shared by the file and template
// kinds (diff, atomic upload, validate). Directory and symlink reuse the
// stat part.
package filestate

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// Path types reported by the probe.
const (
	Absent    = "absent"
	Regular   = "file"
	Directory = "directory"
	Symlink   = "symlink"
	Other     = "other"
)

// Stat is what the probe learned about a path.
type Stat struct {
	Type         string // one of the constants above
	Mode         uint32 // permission bits with setuid/setgid/sticky (stat %a); 0 when absent
	UID, GID     string // numeric
	Owner, Group string // names ("UNKNOWN" when the id has none)
	Size         int64
	ParentExists bool
	LinkTarget   string // for Symlink
}

// StatScript returns sh lines that print, as key=value lines, the type of p
// (following symlinks when follow is set), whether its parent directory
// exists, its stat, and for a symlink its target. They set the variables
// p (the path), t (the type) and sz (the size) for the lines that follow.
// They change nothing and always exit 0.
func StatScript(p string, follow bool) string { return statScript(p, follow, false) }

// statScript is StatScript; with key, it also leaves the path's digest
// record KEY (see digestrecord.go) in k, at no extra cost: the same stat
// call prints it.
func statScript(p string, follow, key bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s\n", shell.Quote(p))
	if follow {
		b.WriteString(`if [ -f "$p" ]; then t=file; elif [ -d "$p" ]; then t=directory; elif [ -e "$p" ]; then t=other; else t=absent; fi` + "\n")
	} else {
		b.WriteString(`if [ -L "$p" ]; then t=symlink; elif [ -f "$p" ]; then t=file; elif [ -d "$p" ]; then t=directory; elif [ -e "$p" ]; then t=other; else t=absent; fi` + "\n")
	}
	b.WriteString("echo \"type=$t\"\n")
	fmt.Fprintf(&b, "if [ -d %s ]; then echo parent=1; else echo parent=0; fi\n", shell.Quote(path.Dir(p)))
	l := ""
	if follow {
		l = "-L "
	}
	b.WriteString("sz=0; k=\n")
	if key {
		fmt.Fprintf(&b, "if [ \"$t\" != absent ]; then st=$(stat %s-c '%%a %%u %%g %%U %%G %%s %s' \"$p\" 2>/dev/null); k=${st##* }; st=${st%% *}; printf '%%s\\n' \"stat=$st\"; sz=${st##* }; fi\n", l, statKeyFormat)
	} else {
		fmt.Fprintf(&b, "if [ \"$t\" != absent ]; then st=$(stat %s-c '%%a %%u %%g %%U %%G %%s' \"$p\" 2>/dev/null); printf '%%s\\n' \"stat=$st\"; sz=${st##* }; fi\n", l)
	}
	b.WriteString(`if [ "$t" = symlink ]; then printf '%s\n' "link=$(readlink "$p")"; fi` + "\n")
	return b.String()
}

// ParseStat reads the key=value lines that StatScript printed.
func ParseStat(f map[string]string) (Stat, error) {
	var s Stat
	s.Type = f["type"]
	switch s.Type {
	case Absent, Regular, Directory, Symlink, Other:
	case "":
		return s, fmt.Errorf("probe printed no path type")
	default:
		return s, fmt.Errorf("probe printed an unknown path type %q", s.Type)
	}
	s.ParentExists = f["parent"] == "1"
	if s.Type == Absent {
		return s, nil
	}
	fields := strings.Fields(f["stat"])
	if len(fields) != 6 {
		return s, fmt.Errorf("cannot stat the path (probe printed %q)", f["stat"])
	}
	mode, err := strconv.ParseUint(fields[0], 8, 32)
	if err != nil {
		return s, fmt.Errorf("probe printed a bad mode %q", fields[0])
	}
	size, err := strconv.ParseInt(fields[5], 10, 64)
	if err != nil {
		return s, fmt.Errorf("probe printed a bad size %q", fields[5])
	}
	s.Mode, s.UID, s.GID, s.Owner, s.Group, s.Size = uint32(mode), fields[1], fields[2], fields[3], fields[4], size
	s.LinkTarget = f["link"]
	return s, nil
}

// Describe names a path type for messages: "a directory".
func Describe(typ string) string {
	switch typ {
	case Regular:
		return "a regular file"
	case Directory:
		return "a directory"
	case Symlink:
		return "a symbolic link"
	case Absent:
		return "missing"
	default:
		return "a special file"
	}
}
