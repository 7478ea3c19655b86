package user

import (
	"encoding/json"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/nssfiles"
)

// NativeUser is the helper's kind for the user probe: /etc/passwd and
// /etc/group read in process instead of getent, cut and id.
const NativeUser = "user"

// Natives are the user kind's native answerers, for its registration.
var Natives = map[string]module.NativeAnswerer{NativeUser: AnswerUsers}

type userQuery struct {
	Name string `json:"name"`
}

// NativeProbe implements module.NativeProber. A name starting with a digit
// is looked up by getent as a uid: the fragment runs.
func (u *User) NativeProbe() (string, any, bool) {
	if u.name == "" || u.name[0] >= '0' && u.name[0] <= '9' {
		return "", nil, false
	}
	return NativeUser, userQuery{Name: u.name}, true
}

// AnswerUsers is the helper's answerer for NativeUser. It declines a user
// the files do not have (another name service may), and one whose
// primary or supplementary groups the files do not name.
func AnswerUsers(queries [][]byte) []module.NativeAnswer {
	db := nssfiles.Load("")
	out := make([]module.NativeAnswer, len(queries))
	if !db.OK() {
		return out
	}
	for i, raw := range queries {
		var q userQuery
		if json.Unmarshal(raw, &q) != nil || q.Name == "" || q.Name[0] >= '0' && q.Name[0] <= '9' {
			continue
		}
		pw, ok := db.User(q.Name)
		if !ok {
			continue
		}
		primary, ok := db.GroupByID(pw[3])
		if !ok {
			continue
		}
		gids, ok := db.Groups(q.Name, pw[3])
		if !ok {
			continue
		}
		names := make([]string, len(gids))
		for k, gid := range gids {
			g, ok := db.GroupByID(gid)
			if !ok {
				names = nil
				break
			}
			names[k] = g[0]
		}
		if names == nil {
			continue
		}
		var b strings.Builder
		b.WriteString("passwd=" + nssfiles.Line(pw) + "\n")
		b.WriteString("primary=" + primary[0] + "\n")
		b.WriteString("groups=" + strings.Join(names, " ") + "\n")
		out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: []byte(b.String())}, OK: true}
	}
	return out
}
