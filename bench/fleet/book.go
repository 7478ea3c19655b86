package fleet

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// A Book holds the answers of one real host, recorded once, and gives them
// back to requests of the same shape. skiff puts fresh random tokens in
// every script it sends (frame markers, here-document delimiters): a request
// is known by its text with every run of 16 or more lowercase hex digits
// replaced by a placeholder numbered by first appearance, and the recorded
// answer has each of those runs replaced by the same placeholder, so that a
// replay carries the new request's tokens wherever the recording carried
// the old ones. Hex runs that are the same in every run (a file's SHA-256,
// the probe helper's id) map to themselves.
type Book struct {
	mu      sync.RWMutex
	answers map[string]template
	order   []string // keys in recording order, for Requests
	// varied counts requests recorded twice with different answers;
	// lastVaried shows the last of them.
	varied     int
	lastVaried string
}

// Reply is what a session answers: its stdout, stderr and exit status.
type Reply struct {
	Stdout, Stderr []byte
	Exit           int
}

// template is a recorded reply with placeholders for the request's tokens.
type template struct {
	stdout, stderr []segment
	exit           int
}

// segment is literal text, or (tok ≥ 0) the request's token number tok.
type segment struct {
	lit string
	tok int
}

// NewBook is an empty book.
func NewBook() *Book { return &Book{answers: map[string]template{}} }

// Record files reply as the answer to command with stdin. A request
// recorded before keeps its first answer; a different one is counted (see
// Varied).
func (b *Book) Record(command, stdin string, reply Reply) {
	key, toks := requestKey(command, stdin)
	index := make(map[string]int, len(toks))
	for i, t := range toks {
		index[t] = i
	}
	tpl := template{stdout: templateOf(string(reply.Stdout), index), stderr: templateOf(string(reply.Stderr), index), exit: reply.Exit}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.answers[key]; ok {
		if !sameTemplate(old, tpl) {
			b.varied++
			b.lastVaried = fmt.Sprintf("%s\n--- first answer (exit %d):\n%s\n--- then (exit %d):\n%s", firstLines(strings.NewReplacer("\x00", "<T", "\x01", ">").Replace(key), 6),
				old.exit, expand(old.stdout, toks), tpl.exit, expand(tpl.stdout, toks))
		}
		return
	}
	b.answers[key] = tpl
	b.order = append(b.order, key)
}

// Answer is the recorded reply to a request of this shape, with this
// request's tokens in it; false when none was recorded.
func (b *Book) Answer(command, stdin string) (Reply, bool) {
	key, toks := requestKey(command, stdin)
	b.mu.RLock()
	tpl, ok := b.answers[key]
	b.mu.RUnlock()
	if !ok {
		return Reply{}, false
	}
	return Reply{Stdout: expand(tpl.stdout, toks), Stderr: expand(tpl.stderr, toks), Exit: tpl.exit}, true
}

// Len is the number of distinct requests recorded.
func (b *Book) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.answers)
}

// Varied is how many requests were recorded again with another answer.
func (b *Book) Varied() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.varied
}

// LastVaried shows the last request recorded again with another answer,
// and both answers.
func (b *Book) LastVaried() string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.lastVaried
}

// Requests are the recorded requests' shapes (placeholders shown as
// <T0>, <T1>…), in recording order: for a log of what was recorded.
func (b *Book) Requests() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]string, len(b.order))
	for i, k := range b.order {
		out[i] = strings.NewReplacer("\x00", "<T", "\x01", ">").Replace(k)
	}
	return out
}

// requestKey is the shape of a request, and its tokens by number.
func requestKey(command, stdin string) (string, []string) {
	var b strings.Builder
	b.Grow(len(command) + 1 + len(stdin))
	b.WriteString(command)
	b.WriteByte('\n')
	var toks []string
	index := map[string]int{}
	eachHexRun(stdin, func(lit string) { b.WriteString(lit) }, func(run string) {
		i, ok := index[run]
		if !ok {
			i = len(toks)
			index[run] = i
			toks = append(toks, run)
		}
		b.WriteByte(0)
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(1)
	})
	return b.String(), toks
}

// templateOf is s with each hex run that is one of the request's tokens
// (index) made a placeholder.
func templateOf(s string, index map[string]int) []segment {
	var segs []segment
	var lit strings.Builder
	eachHexRun(s, func(l string) { lit.WriteString(l) }, func(run string) {
		i, ok := index[run]
		if !ok {
			lit.WriteString(run)
			return
		}
		if lit.Len() > 0 {
			segs = append(segs, segment{lit: lit.String(), tok: -1})
			lit.Reset()
		}
		segs = append(segs, segment{tok: i})
	})
	if lit.Len() > 0 {
		segs = append(segs, segment{lit: lit.String(), tok: -1})
	}
	return segs
}

func expand(segs []segment, toks []string) []byte {
	n := 0
	for _, s := range segs {
		n += len(s.lit)
		if s.tok >= 0 && s.tok < len(toks) {
			n += len(toks[s.tok])
		}
	}
	out := make([]byte, 0, n)
	for _, s := range segs {
		if s.tok < 0 {
			out = append(out, s.lit...)
		} else if s.tok < len(toks) {
			out = append(out, toks[s.tok]...)
		}
	}
	return out
}

func sameTemplate(a, b template) bool {
	return a.exit == b.exit && fmt.Sprint(a.stdout) == fmt.Sprint(b.stdout) && fmt.Sprint(a.stderr) == fmt.Sprint(b.stderr)
}

// minHexRun is the shortest run of lowercase hex digits taken as a token:
// skiff's tokens are 16 digits (8 random bytes).
const minHexRun = 16

// eachHexRun splits s into literal text and runs of at least minHexRun
// lowercase hex digits, calling lit and run in order.
func eachHexRun(s string, lit, run func(string)) {
	start := 0 // of the pending literal
	for i := 0; i < len(s); {
		if !isHex(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isHex(s[j]) {
			j++
		}
		if j-i >= minHexRun {
			if i > start {
				lit(s[start:i])
			}
			run(s[i:j])
			start = j
		}
		i = j
	}
	if start < len(s) {
		lit(s[start:])
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
