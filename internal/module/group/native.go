package group

import (
	"encoding/json"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/nssfiles"
)

// NativeGroup is the helper's kind for the group probe: /etc/group read
// in process instead of getent.
const NativeGroup = "group"

// Natives are the group kind's native answerers, for its registration.
var Natives = map[string]module.NativeAnswerer{NativeGroup: AnswerGroups}

type groupQuery struct {
	Name string `json:"name"`
}

// NativeProbe implements module.NativeProber. A name starting with a digit
// is looked up by getent as a gid: the fragment runs.
func (g *Group) NativeProbe() (string, any, bool) {
	if g.name == "" || g.name[0] >= '0' && g.name[0] <= '9' {
		return "", nil, false
	}
	return NativeGroup, groupQuery{Name: g.name}, true
}

// AnswerGroups is the helper's answerer for NativeGroup. It declines a
// group the files do not have: another name service may.
func AnswerGroups(queries [][]byte) []module.NativeAnswer {
	db := nssfiles.Load("")
	out := make([]module.NativeAnswer, len(queries))
	if !db.OK() {
		return out
	}
	for i, raw := range queries {
		var q groupQuery
		if json.Unmarshal(raw, &q) != nil || q.Name == "" || q.Name[0] >= '0' && q.Name[0] <= '9' {
			continue
		}
		if gr, ok := db.Group(q.Name); ok {
			out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: []byte("group=" + nssfiles.Line(gr) + "\n")}, OK: true}
		}
	}
	return out
}
