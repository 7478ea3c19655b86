package config

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/secret"
)

// Functions returns an evaluation context holding only skiff's functions:
// the ones expressions and templates may call, named as in Terraform. The
// map is the caller's to extend; the functions, built once per process
// (a run asks for a context per host and role), are shared.
func Functions() *hcl.EvalContext {
	return &hcl.EvalContext{Functions: maps.Clone(sharedFunctions())}
}

var sharedFunctions = sync.OnceValue(functionTable)

func functionTable() map[string]function.Function {
	t := map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
		"max": stdlib.MaxFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc,
		"chomp": stdlib.ChompFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "join": stdlib.JoinFunc, "lower": stdlib.LowerFunc,
		"upper": stdlib.UpperFunc, "replace": stdlib.ReplaceFunc, "regex": stdlib.RegexFunc,
		"regexall": stdlib.RegexAllFunc, "regex_replace": stdlib.RegexReplaceFunc,
		"split": stdlib.SplitFunc, "strlen": stdlib.StrlenFunc, "substr": stdlib.SubstrFunc,
		"title": stdlib.TitleFunc, "trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc,
		"trimsuffix": stdlib.TrimSuffixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"coalesce": stdlib.CoalesceFunc, "compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc,
		"contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc,
		"flatten": stdlib.FlattenFunc, "index": indexFunc(), "keys": stdlib.KeysFunc,
		"length": stdlib.LengthFunc, "lookup": stdlib.LookupFunc, "merge": stdlib.MergeFunc,
		"range": stdlib.RangeFunc, "reverse": stdlib.ReverseListFunc, "slice": stdlib.SliceFunc,
		"sort": stdlib.SortFunc, "values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"jsonencode": stdlib.JSONEncodeFunc, "jsondecode": stdlib.JSONDecodeFunc,
		"csvdecode": stdlib.CSVDecodeFunc,
		"tostring":  stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)), "tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"base64encode": stringFunc(func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }),
		"sha256":       stringFunc(func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }),
		"file":         fileFunc(),
		"sensitive":    sensitiveFunc(),
		// abspath resolves a local path against the folder skiff runs in.
		"abspath": stringFunc(func(s string) string {
			if a, err := filepath.Abs(s); err == nil {
				return a
			}
			return s
		}),
		// shellquote makes a value one word of a sh command, taken
		// literally: what reaches a root shell from a variable goes
		// through it.
		"shellquote": stringFunc(shell.Quote),
	}
	for name, f := range t {
		t[name] = redactErrors(name, f)
	}
	return t
}

// redactErrors wraps f so that a failed call with a secret argument says
// so without f's own message, which may quote the argument (as cty's
// tonumber and index do). Marks still flow as f declares.
func redactErrors(name string, f function.Function) function.Function {
	params := f.Params()
	for i := range params {
		params[i].AllowMarked = true // f.Call unmarks what f does not allow
	}
	var vp *function.Parameter
	if p := f.VarParam(); p != nil {
		c := *p
		c.AllowMarked = true
		vp = &c
	}
	hide := func(args []cty.Value, err error) error {
		if err == nil {
			return nil
		}
		for i, a := range args {
			if secret.Is(a) {
				return function.NewArgErrorf(i, "%s failed on a sensitive value; the reason is hidden, as it could show the value", name)
			}
		}
		return err
	}
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    vp,
		Type: func(args []cty.Value) (cty.Type, error) {
			ty, err := f.ReturnTypeForValues(args)
			return ty, hide(args, err)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, err := f.Call(args)
			return v, hide(args, err)
		},
	})
}

// stringFunc lifts a string-to-string Go function; marks (secrets) carry over.
func stringFunc(f func(string) string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String, AllowMarked: true}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, marks := args[0].Unmark()
			return cty.StringVal(f(v.AsString())).WithMarks(marks), nil
		},
	})
}

// fileFunc reads a local file (relative to the folder skiff runs in).
func fileFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String, AllowMarked: true}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, marks := args[0].Unmark()
			b, err := os.ReadFile(v.AsString())
			if err != nil {
				return cty.NilVal, fmt.Errorf("file: %w", err)
			}
			return cty.StringVal(string(b)).WithMarks(marks), nil
		},
	})
}

// sensitiveFunc marks its argument secret: it prints as (sensitive).
func sensitiveFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowMarked: true, AllowUnknown: true, AllowNull: true}},
		Type:   func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return secret.Wrap(args[0]), nil
		},
	})
}

// indexFunc is index(list, value): the position of value in list, as in
// Terraform (cty's own index is element access, which [] already does).
func indexFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{
			{Name: "list", Type: cty.DynamicPseudoType},
			{Name: "value", Type: cty.DynamicPseudoType},
		},
		Type: function.StaticReturnType(cty.Number),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			list, value := args[0], args[1]
			if !list.Type().IsListType() && !list.Type().IsTupleType() {
				return cty.NilVal, fmt.Errorf("index: the first argument must be a list")
			}
			i := 0
			for it := list.ElementIterator(); it.Next(); i++ {
				_, e := it.Element()
				if eq := e.Equals(value); eq.IsKnown() && eq.True() {
					return cty.NumberIntVal(int64(i)), nil
				}
			}
			if value.Type() == cty.String && !value.IsNull() {
				return cty.NilVal, fmt.Errorf("index: %q is not in the list", value.AsString())
			}
			return cty.NilVal, fmt.Errorf("index: the value is not in the list")
		},
	})
}
