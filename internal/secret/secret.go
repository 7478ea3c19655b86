// Package secret marks values that must never be shown: inventory secrets and
// anything computed from them carry Mark through HCL evaluation (cty marks
// propagate), and every output path prints Redacted in their place.
package secret

import "github.com/zclconf/go-cty/cty"

// Mark is the cty mark carried by secret values.
const Mark = "sensitive"

// Redacted is what outputs print instead of a secret.
const Redacted = "(sensitive)"

// Is reports whether v, or any value nested in it, is secret.
func Is(v cty.Value) bool {
	if v.HasMark(Mark) {
		return true
	}
	return v.ContainsMarked() && hasDeepMark(v)
}

func hasDeepMark(v cty.Value) bool {
	_, pvm := v.UnmarkDeepWithPaths()
	for _, pm := range pvm {
		if _, ok := pm.Marks[Mark]; ok {
			return true
		}
	}
	return false
}

// Wrap marks v secret.
func Wrap(v cty.Value) cty.Value { return v.Mark(Mark) }
