package shell

import (
	"maps"
	"runtime"
	"strings"
	"testing"
)

// Fields reads key=value lines as a line scanner would: a "\r" before the
// newline dropped, the last line read without its newline, lines without
// "=" skipped, the last of a repeated key kept.
func TestFieldsLines(t *testing.T) {
	out := "type=file\r\nstat=644 0 0 root root 5\nnoise\n\nsum=a=b\ntype=directory\nlast=no newline"
	want := map[string]string{"type": "directory", "stat": "644 0 0 root root 5", "sum": "a=b", "last": "no newline"}
	if got := Fields([]byte(out)); !maps.Equal(got, want) {
		t.Errorf("Fields = %v, want %v", got, want)
	}
	if got := Fields(nil); len(got) != 0 {
		t.Errorf("Fields(nil) = %v", got)
	}
}

// A run reads every file task's probe with Fields on every host: reading a
// few lines must not cost a buffer far larger than them (a 64 KiB scanner
// buffer per call made 128 MiB of garbage per 1,000 hosts with two files).
func TestFieldsAllocatesAboutItsInput(t *testing.T) {
	out := []byte(strings.Repeat("stat=644 0 0 root root 5 2049:1234:5:1700000000.1:1700000000.1\n", 4))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const calls = 100
	for range calls {
		if len(Fields(out)) != 1 {
			t.Fatal("Fields lost the field")
		}
	}
	runtime.ReadMemStats(&after)
	if perCall := (after.TotalAlloc - before.TotalAlloc) / calls; perCall > 8*1024 {
		t.Errorf("Fields allocated %d bytes per call for %d bytes of output", perCall, len(out))
	}
}
