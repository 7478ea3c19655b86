//go:build !linux

package filestate

import "github.com/skiffdeploy/skiff/internal/module"

// The helper runs on Linux hosts only: elsewhere its answerers decline.

// AnswerFiles is the helper's answerer for NativeFile.
func AnswerFiles(queries [][]byte) []module.NativeAnswer {
	return make([]module.NativeAnswer, len(queries))
}

// AnswerStats is the helper's answerer for NativeStat.
func AnswerStats(queries [][]byte) []module.NativeAnswer {
	return make([]module.NativeAnswer, len(queries))
}
