// Package ui shows a run's progress: a progress bar over all tasks on a
// terminal, plain timestamped lines otherwise (logs, CI).
package ui

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/skiffdeploy/skiff/internal/plan"
)

// Progress implements engine.Observer.
type Progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	verbose bool
	bar     *progressbar.ProgressBar
	total   int
	// running is the plays under way, in the order they started: plays
	// that need none of each other run at once and share one bar.
	running []string
}

// NewProgress writes to w (stderr); tty selects the bar. verbose prints every
// task in plain mode, not only changes and failures.
func NewProgress(w io.Writer, tty, verbose bool) *Progress {
	return &Progress{w: w, tty: tty, verbose: verbose}
}

func (p *Progress) lineLocked(format string, args ...any) {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.w, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	if p.bar != nil {
		_ = p.bar.RenderBlank()
	}
}

// PlayStarted prints the play and (on a terminal) starts its bar, or,
// while other plays run, names it on theirs.
func (p *Progress) PlayStarted(play string, hosts []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	alone := len(p.running) == 0
	p.running = append(p.running, play)
	p.lineLocked("play %s: %d host(s)", play, len(hosts))
	if !alone {
		p.describeLocked()
		return
	}
	p.finishBarLocked()
	p.total = 0
	if p.tty {
		p.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription("  "+play),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("tasks"),
			progressbar.OptionShowIts(),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(80*time.Millisecond),
		)
	}
}

// HostTasks grows the bar's total.
func (p *Progress) HostTasks(host string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total += n
	if p.bar != nil {
		p.bar.ChangeMax(p.total)
	}
}

// TaskDone advances the bar and prints changes and failures.
func (p *Progress) TaskDone(host, play, task string, status plan.Status, summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Add(1)
	}
	switch {
	case status == plan.StatusChanged || status == plan.StatusFailed:
		p.lineLocked("  %-12s %-8s %s: %s", host, status, task, summary)
	case p.verbose:
		p.lineLocked("  %-12s %-8s %s", host, status, task)
	}
}

// TaskRetrying prints a failed try of a task that is tried again.
func (p *Progress) TaskRetrying(host, play, task string, try int, wait time.Duration, err string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lineLocked("  %-12s %-8s %s: try %d failed, checking again in %s: %s", host, "retry", task, try, wait, err)
}

// HostDone prints failures and unreachable hosts at once.
func (p *Progress) HostDone(host, play string, status plan.Status, err string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != "" {
		p.lineLocked("  %-12s %s: %s", host, status, err)
	} else if p.verbose || !p.tty {
		p.lineLocked("  %-12s done: %s", host, status)
	}
}

// PlayDone takes the play off the bar (engine.PlayObserver).
func (p *Progress) PlayDone(play string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running = slices.DeleteFunc(p.running, func(n string) bool { return n == play })
	if len(p.running) > 0 {
		p.describeLocked()
	}
}

// describeLocked names the plays running on the bar.
func (p *Progress) describeLocked() {
	if p.bar != nil {
		p.bar.Describe("  " + strings.Join(p.running, " + "))
	}
}

// Close ends the bar.
func (p *Progress) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishBarLocked()
}

func (p *Progress) finishBarLocked() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
