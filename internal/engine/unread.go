package engine

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/secret"
)

// LeaveUnread adds declared secrets whose values this run does not read
// (validate reads none; plan and apply only those their plays use) as
// unknown strings marked secret: expressions that use them check as far as
// they can without the value.
func (s *Scope) LeaveUnread(names []string) {
	all := map[string]cty.Value{}
	if s.secrets.LengthInt() > 0 {
		all = s.secrets.AsValueMap()
	}
	for _, n := range names {
		if _, ok := all[n]; !ok {
			all[n] = secret.Wrap(cty.UnknownVal(cty.String))
		}
	}
	s.secrets = cty.ObjectVal(all)
}
