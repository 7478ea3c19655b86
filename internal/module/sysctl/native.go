package sysctl

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// NativeSysctl names the probe helper's answerer of the sysctl kind.
const NativeSysctl = "sysctl"

// Natives are the sysctl kind's answerers, for its registration: its own,
// and the file kind's, which it calls.
var Natives = map[string]module.NativeAnswerer{NativeSysctl: Answer, filestate.NativeFile: filestate.AnswerFiles}

// Query is a sysctl task's question to the helper: the parameter's file
// under /proc/sys and the file kind's query for the persisting file.
type Query struct {
	Proc string          `json:"proc"`
	File json.RawMessage `json:"file"`
}

// NativeProbe implements module.NativeProber.
func (s *Sysctl) NativeProbe() (string, any, bool) {
	if s.name == "" {
		return "", nil, false
	}
	kind, fq, ok := s.file.NativeProbe()
	if !ok || kind != filestate.NativeFile {
		return "", nil, false
	}
	raw, err := json.Marshal(fq)
	if err != nil {
		return "", nil, false
	}
	return NativeSysctl, Query{Proc: s.proc(), File: raw}, true
}

// Answer prints what Probe's fragment prints, for each query; it declines
// where the file kind's answerer declines.
func Answer(queries [][]byte) []module.NativeAnswer {
	out := make([]module.NativeAnswer, len(queries))
	var files [][]byte
	var idx []int
	for i, raw := range queries {
		var q Query
		if json.Unmarshal(raw, &q) != nil || !strings.HasPrefix(q.Proc, procRoot+"/") {
			continue
		}
		out[i].Stdout = liveNative(q.Proc)
		files = append(files, q.File)
		idx = append(idx, i)
	}
	for k, a := range filestate.AnswerFiles(files) {
		i := idx[k]
		if a.OK {
			out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: append(out[i].Stdout, a.Stdout...)}, OK: true}
		} else {
			out[i] = module.NativeAnswer{}
		}
	}
	return out
}

// liveNative is liveScript's output for proc.
func liveNative(proc string) []byte {
	if _, err := os.Stat(proc); err != nil {
		return []byte("sysctl_missing=1\n")
	}
	v, err := os.ReadFile(proc)
	if err != nil {
		return []byte("sysctl_unreadable=1\n")
	}
	v = bytes.ReplaceAll(bytes.TrimRight(v, "\n"), []byte("\n"), []byte(" "))
	return append(append([]byte("sysctl_live="), v...), '\n')
}
