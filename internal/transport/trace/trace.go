// Package trace wraps a Transport to print what skiff does on a host, for
// -vv: each script it runs (as sent, secrets scrubbed), each file it writes
// and each stat, with its outcome and how long it took.
package trace

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// Log prints events, one at a time; Scrub hides secrets in what it prints.
type Log struct {
	mu    sync.Mutex
	w     io.Writer
	scrub func(string) string
}

// New prints to w. scrub (nil: none yet) is read at each event, so a run
// can set it once its secrets are known; see SetScrub.
func New(w io.Writer) *Log { return &Log{w: w} }

// SetScrub sets how secrets are hidden in what the log prints.
func (l *Log) SetScrub(scrub func(string) string) {
	l.mu.Lock()
	l.scrub = scrub
	l.mu.Unlock()
}

// Printf prints one event about host.
func (l *Log) Printf(host, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	text := fmt.Sprintf(format, args...)
	if l.scrub != nil {
		text = l.scrub(text)
	}
	prefix := time.Now().Format("15:04:05.000") + " " + host + ": "
	text = strings.TrimRight(text, "\n")
	fmt.Fprintln(l.w, prefix+strings.ReplaceAll(text, "\n", "\n"+strings.Repeat(" ", len(prefix))+"| "))
}

// Wrap returns t, printing its calls on host to the log.
func (l *Log) Wrap(host string, t transport.Transport) transport.Transport {
	return &traced{t: t, host: host, log: l}
}

type traced struct {
	t    transport.Transport
	host string
	log  *Log
}

func (c *traced) Run(ctx context.Context, script string) (transport.Result, error) {
	c.log.Printf(c.host, "run (%d bytes):\n%s", len(script), script)
	start := time.Now()
	res, err := c.t.Run(ctx, script)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		c.log.Printf(c.host, "run failed after %s: %v", took, err)
		return res, err
	}
	msg := fmt.Sprintf("exit %d after %s, %d bytes out", res.ExitCode, took, len(res.Stdout))
	if s := strings.TrimSpace(string(res.Stderr)); s != "" {
		msg += ", stderr:\n" + s
	}
	c.log.Printf(c.host, "%s", msg)
	return res, err
}

func (c *traced) WriteFile(ctx context.Context, path string, content io.Reader, perm os.FileMode) error {
	start := time.Now()
	err := c.t.WriteFile(ctx, path, content, perm)
	c.log.Printf(c.host, "write %s (%04o) over sftp: %s", path, perm, outcome(err, start))
	return err
}

func (c *traced) Stat(ctx context.Context, path string) (transport.FileInfo, error) {
	start := time.Now()
	fi, err := c.t.Stat(ctx, path)
	c.log.Printf(c.host, "stat %s over sftp: %s", path, outcome(err, start))
	return fi, err
}

func (c *traced) Close() error {
	c.log.Printf(c.host, "close the connection")
	return c.t.Close()
}

func outcome(err error, start time.Time) string {
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		return fmt.Sprintf("%v (after %s)", err, took)
	}
	return "ok in " + took.String()
}
