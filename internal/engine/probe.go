package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"skiff/internal/module"
	"skiff/internal/transport"
)

// probeBatch runs the Probe fragments of many tasks in one remote script:
// one round trip however many tasks a host has. Each fragment runs in its
// own subshell with stdin closed; its stdout is framed by markers carrying a
// random token, so no output can be mistaken for a frame.
func probeBatch(ctx context.Context, t transport.Transport, fragments []string) ([]module.Probed, error) {
	out := make([]module.Probed, len(fragments))
	var script strings.Builder
	tok := token()
	n := 0
	for i, f := range fragments {
		if strings.TrimSpace(f) == "" {
			continue
		}
		n++
		fmt.Fprintf(&script, "printf '@@%s begin %d\\n'\n(\n%s\n) </dev/null\nrc=$?\nprintf '\\n@@%s end %d %%d\\n' \"$rc\"\n", tok, i, f, tok, i)
	}
	if n == 0 {
		return out, nil
	}
	res, err := t.Run(ctx, script.String())
	if err != nil {
		return nil, err
	}
	seen := 0
	rest := res.Stdout
	for len(rest) > 0 {
		begin := []byte("@@" + tok + " begin ")
		i := bytes.Index(rest, begin)
		if i < 0 {
			break
		}
		rest = rest[i+len(begin):]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			break
		}
		idx, err := strconv.Atoi(string(rest[:nl]))
		if err != nil || idx < 0 || idx >= len(out) {
			return nil, fmt.Errorf("probe output is garbled near %q", rest[:nl])
		}
		rest = rest[nl+1:]
		end := []byte(fmt.Sprintf("\n@@%s end %d ", tok, idx))
		j := bytes.Index(rest, end)
		if j < 0 {
			return nil, fmt.Errorf("probe of task %d did not finish (stderr: %s)", idx, tail(res.Stderr))
		}
		body := rest[:j]
		rest = rest[j+len(end):]
		nl = bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("probe output is truncated")
		}
		rc, _ := strconv.Atoi(string(rest[:nl]))
		rest = rest[nl+1:]
		out[idx] = module.Probed{Stdout: append([]byte(nil), body...), ExitCode: rc}
		seen++
	}
	if seen != n {
		return nil, fmt.Errorf("probe returned %d of %d results (exit %d, stderr: %s)", seen, n, res.ExitCode, tail(res.Stderr))
	}
	return out, nil
}

func token() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the last lines of b, for error messages.
func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}
