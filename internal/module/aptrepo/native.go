package aptrepo

import (
	"encoding/json"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// NativeRepo names the helper's answerer for Repo.Probe.
const NativeRepo = "apt_repository"

// Natives are the apt_repository kind's answerers, for its registration.
var Natives = map[string]module.NativeAnswerer{NativeRepo: AnswerRepos}

// Query is Repo.Probe's question to the helper: both files' queries.
type Query struct {
	Key     filestate.FileQuery `json:"key"`
	Sources filestate.FileQuery `json:"sources"`
}

// NativeProbe implements module.NativeProber.
func (r *Repo) NativeProbe() (string, any, bool) {
	if r.sources == nil {
		return "", nil, false
	}
	_, k, ok1 := r.key.NativeProbe()
	_, s, ok2 := r.sources.NativeProbe()
	kq, ok3 := k.(filestate.FileQuery)
	sq, ok4 := s.(filestate.FileQuery)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return "", nil, false
	}
	return NativeRepo, Query{Key: kq, Sources: sq}, true
}

// AnswerRepos answers as Probe's fragment prints: the file kind's answer
// for the key, the separator line, the one for the sources file.
func AnswerRepos(queries [][]byte) []module.NativeAnswer {
	files := make([][]byte, 0, 2*len(queries))
	for _, raw := range queries {
		var q Query
		if json.Unmarshal(raw, &q) != nil {
			return make([]module.NativeAnswer, len(queries))
		}
		k, _ := json.Marshal(q.Key)
		s, _ := json.Marshal(q.Sources)
		files = append(files, k, s)
	}
	answers := filestate.AnswerFiles(files)
	out := make([]module.NativeAnswer, len(queries))
	for i := range queries {
		k, s := answers[2*i], answers[2*i+1]
		if !k.OK || !s.OK {
			continue
		}
		b := append(append([]byte{}, k.Stdout...), separator+"\n"...)
		out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: append(b, s.Stdout...)}, OK: true}
	}
	return out
}
