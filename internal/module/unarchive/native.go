package unarchive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// NativeUnarchive names the helper's answerer for Unarchive.Probe.
const NativeUnarchive = "unarchive"

// Natives are the unarchive kind's answerers, for its registration.
var Natives = map[string]module.NativeAnswerer{NativeUnarchive: AnswerUnarchives}

// Query is Unarchive.Probe's question to the helper.
type Query struct {
	Remote *filestate.FileQuery `json:"remote,omitempty"` // remote_source's file probe
	Path   string               `json:"path"`
	Record string               `json:"record"`
	Tools  []string             `json:"tools"`
}

// NativeProbe implements module.NativeProber.
func (u *Unarchive) NativeProbe() (string, any, bool) {
	if u.path == "" || !u.known {
		return "", nil, false
	}
	q := Query{Path: u.path, Record: u.recordPath(), Tools: tools[u.format]}
	if u.remote != nil {
		_, fq, ok := u.remote.NativeProbe()
		f, isFile := fq.(filestate.FileQuery)
		if !ok || !isFile {
			return "", nil, false
		}
		q.Remote = &f
	}
	return NativeUnarchive, q, true
}

// AnswerUnarchives answers as Probe's fragment prints, or declines where
// it could differ (an unreadable folder, a remote_source the file kind's
// answerer declines).
func AnswerUnarchives(queries [][]byte) []module.NativeAnswer {
	out := make([]module.NativeAnswer, len(queries))
	for i, raw := range queries {
		var q Query
		if json.Unmarshal(raw, &q) != nil || q.Path == "" {
			continue
		}
		if b, ok := answer(q); ok {
			out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: b}, OK: true}
		}
	}
	return out
}

func answer(q Query) ([]byte, bool) {
	var b bytes.Buffer
	if q.Remote != nil {
		raw, _ := json.Marshal(q.Remote)
		a := filestate.AnswerFiles([][]byte{raw})[0]
		if !a.OK {
			return nil, false
		}
		b.Write(a.Stdout)
	}
	dt := "absent"
	fi, err := os.Lstat(q.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, false
	case fi.Mode()&fs.ModeSymlink != 0:
		dt = "symlink"
	case fi.IsDir():
		dt = "directory"
	default:
		dt = "other"
	}
	fmt.Fprintf(&b, "dest=%s\n", dt)
	if dt == "directory" {
		entries, err := os.ReadDir(q.Path)
		if err != nil {
			return nil, false
		}
		if len(entries) == 0 {
			b.WriteString("dest_empty=1\n")
		}
	}
	if fi, err := os.Stat(path.Dir(q.Path)); err == nil && fi.IsDir() {
		b.WriteString("dest_parent=1\n")
	}
	// [ -f R ] && read -r rl < R: a first line that ends in a newline,
	// without the blanks around it.
	if fi, err := os.Stat(q.Record); err == nil && fi.Mode().IsRegular() {
		if content, err := os.ReadFile(q.Record); err == nil {
			if line, _, ok := strings.Cut(string(content), "\n"); ok {
				fmt.Fprintf(&b, "record=%s\n", strings.Trim(line, " \t"))
			}
		}
	}
	var missing []string
	for _, t := range q.Tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, "missing_tools=%s\n", strings.Join(missing, " "))
	}
	return b.Bytes(), true
}
