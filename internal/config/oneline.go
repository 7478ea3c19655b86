package config

import (
	"reflect"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// splitOneLineBlocks lets a block hold several arguments on one line, as
// skiff's documentation writes them:
//
//	play "web" { hosts = "web"  roles = ["nginx"]  serial = 1 }
//
// HCL allows only one argument in a single-line block. The rewrite turns
// the whitespace byte before each argument and before the closing brace into
// a newline. Byte offsets do not move, so diagnostics stay exact once their
// line and column are recomputed from the original source (see relocateAST).
// A block with no whitespace where a newline must go is left alone, and
// HCL's own error stands.
func splitOneLineBlocks(src []byte, filename string) []byte {
	toks, diags := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return src
	}
	type frame struct {
		open  hclsyntax.TokenType
		tok   int   // index of the opening token
		block bool  // a block body (not an object, list, call or template)
		attrs []int // token index of each argument name at the frame's top level
	}
	out := append([]byte(nil), src...)
	var stack []frame
	prevSignificant := func(i int) hclsyntax.TokenType {
		for j := i - 1; j >= 0; j-- {
			if toks[j].Type != hclsyntax.TokenNewline && toks[j].Type != hclsyntax.TokenComment {
				return toks[j].Type
			}
		}
		return hclsyntax.TokenNil
	}
	isSpace := func(b int) bool { return b >= 0 && b < len(out) && (out[b] == ' ' || out[b] == '\t') }
	for i, t := range toks {
		switch t.Type {
		case hclsyntax.TokenOBrace:
			p := prevSignificant(i)
			inBlockLevel := len(stack) == 0 || stack[len(stack)-1].block
			block := inBlockLevel && (p == hclsyntax.TokenIdent || p == hclsyntax.TokenCQuote)
			stack = append(stack, frame{open: t.Type, tok: i, block: block})
		case hclsyntax.TokenOParen, hclsyntax.TokenOBrack, hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc,
			hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			stack = append(stack, frame{open: t.Type, tok: i})
		case hclsyntax.TokenCBrace, hclsyntax.TokenCParen, hclsyntax.TokenCBrack, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			if len(stack) == 0 {
				return src
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !f.block || len(f.attrs) < 2 || toks[f.tok].Range.Start.Line != t.Range.Start.Line {
				continue
			}
			cuts := []int{}
			for _, a := range f.attrs {
				cuts = append(cuts, toks[a].Range.Start.Byte-1)
			}
			cuts = append(cuts, t.Range.Start.Byte-1)
			ok := true
			for _, c := range cuts {
				ok = ok && isSpace(c)
			}
			if ok {
				for _, c := range cuts {
					out[c] = '\n'
				}
			}
		case hclsyntax.TokenIdent:
			if len(stack) > 0 && stack[len(stack)-1].block && i+1 < len(toks) && toks[i+1].Type == hclsyntax.TokenEqual {
				f := &stack[len(stack)-1]
				f.attrs = append(f.attrs, i)
			}
		}
	}
	return out
}

// relocateAST sets the line and column of every position in v, a syntax
// tree parsed from the rewritten source, from its byte offset in src (the
// source as the user wrote it): every range the tree gives a diagnostic,
// at load or during a run, is then right as it is.
func relocateAST(v any, src []byte) {
	lines := []int{0} // byte offset of each line's start
	for i, b := range src {
		if b == '\n' {
			lines = append(lines, i+1)
		}
	}
	fix := func(p *hcl.Pos) {
		off := min(max(p.Byte, 0), len(src))
		l := sort.Search(len(lines), func(i int) bool { return lines[i] > off }) - 1
		col := 1
		for _, b := range src[lines[l]:off] {
			if b&0xC0 != 0x80 { // characters, not UTF-8 continuation bytes
				col++
			}
		}
		p.Line, p.Column = l+1, col
	}
	posType := reflect.TypeFor[hcl.Pos]()
	seen := map[uintptr]bool{}
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			walk(v.Elem())
		case reflect.Interface:
			if v.IsNil() {
				return
			}
			e := v.Elem()
			if e.Kind() == reflect.Pointer {
				walk(e)
				return
			}
			if v.CanSet() { // a value in an interface is fixed in a copy
				c := reflect.New(e.Type()).Elem()
				c.Set(e)
				walk(c)
				v.Set(c)
			}
		case reflect.Struct:
			if v.Type() == posType {
				if v.CanAddr() && v.CanSet() {
					fix(v.Addr().Interface().(*hcl.Pos))
				}
				return
			}
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				if k := it.Value().Kind(); k == reflect.Pointer || k == reflect.Interface {
					walk(it.Value())
				}
			}
		}
	}
	walk(reflect.ValueOf(v))
}
