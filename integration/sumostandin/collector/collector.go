// Package collector is the logic of the Sumo Logic collector stand-in: it
// reads the real collector's user.properties and sources JSON, follows the
// LocalFile sources, and POSTs new lines to the configured endpoint. It is a
// test double for skiff's sumo role, not a reimplementation of the product.
//
// Delivery is at-least-once with no duplicates across clean restarts: an
// offset is committed (data/offsets.json) only after its lines were
// accepted, and a POST in flight at shutdown is finished, not cancelled.
package collector

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Paths of the real collector's layout.
const (
	DefaultConfigPath = "/opt/SumoCollector/config/user.properties"
	DefaultDataDir    = "/opt/SumoCollector/data"
	// ReceiverPath is appended to the configured url.
	ReceiverPath = "/receiver/v1/http"
)

// Options tune Run; zero fields take the daemon's defaults.
type Options struct {
	ConfigPath  string        // user.properties; default DefaultConfigPath
	DataDir     string        // where offsets.json is kept; default DefaultDataDir
	Interval    time.Duration // batch period; default 1s
	MaxBackoff  time.Duration // longest wait between failed deliveries; default 30s
	SendTimeout time.Duration // per POST; default 30s
	RotateGrace time.Duration // a renamed or deleted file is still read this long; default 10s
	MaxBatch    int64         // bytes per POST; default 1 MiB
	Logger      *slog.Logger  // default: text on stderr (journald under systemd)
	Client      *http.Client  // default: a plain client
}

func (o Options) withDefaults() Options {
	if o.ConfigPath == "" {
		o.ConfigPath = DefaultConfigPath
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.RotateGrace <= 0 {
		o.RotateGrace = 10 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	return o
}

// Run follows the configured sources until ctx is done. Configuration is
// read once: a restart picks up a new one. It returns an error only when it
// cannot start (bad configuration, unwritable data dir) or cannot save its
// state at the end; delivery failures are retried with backoff, forever.
func Run(ctx context.Context, opts Options) error {
	opts = opts.withDefaults()
	log := opts.Logger
	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return err
	}
	local, skipped, err := LoadSources(cfg.Sources)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		log.Warn("source type not supported by the stand-in; ignored", "source", s.Name, "sourceType", s.SourceType)
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	c, err := newCollector(cfg, local, opts)
	if err != nil {
		return err
	}
	defer c.close()
	log.Info("collector started", "name", cfg.Name, "endpoint", redactURL(c.endpoint), "sources", len(local))

	var backoff time.Duration
	for {
		more, err := c.round(ctx)
		wait := opts.Interval
		switch {
		case err != nil:
			backoff = min(max(2*backoff, opts.Interval), opts.MaxBackoff)
			wait = backoff
			log.Warn("delivery failed; will retry", "err", err, "retry_in", wait)
		case more:
			backoff, wait = 0, 0
		default:
			backoff = 0
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			log.Info("collector stopping")
			return c.save()
		case <-timer.C:
		}
	}
}

type collector struct {
	opts        Options
	cfg         Config
	endpoint    string
	offsetsPath string
	sources     []*source
	dirty       bool // offsets changed since the last save
}

func newCollector(cfg Config, local []Source, opts Options) (*collector, error) {
	c := &collector{
		opts:        opts,
		cfg:         cfg,
		endpoint:    cfg.URL + ReceiverPath,
		offsetsPath: filepath.Join(opts.DataDir, "offsets.json"),
		dirty:       true, // record fresh sources as seen at once
	}
	if _, err := url.ParseRequestURI(c.endpoint); err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	saved, err := loadOffsets(c.offsetsPath)
	if err != nil {
		// Refusing to start would loop under Restart=always; starting over
		// at the end of the files loses at most what was unsent.
		opts.Logger.Error("offsets unreadable; starting at the end of every file", "err", err)
		saved = offsetsFile{Sources: map[string][]fileOffset{}}
	}
	for _, src := range local {
		s := &source{Source: src}
		entries, known := saved.Sources[src.Name]
		s.fresh = !known
		for _, fo := range entries {
			t, ok := restore(fo)
			if !ok {
				opts.Logger.Warn("followed file is gone; its unsent lines are lost", "source", src.Name, "path", fo.Path, "offset", fo.Offset)
				continue
			}
			s.files = append(s.files, t)
		}
		c.sources = append(c.sources, s)
	}
	return c, nil
}

// round scans the sources, then sends each one's new lines in one POST.
// more reports that a batch was full and lines are waiting. It stops at the
// first failed delivery: the endpoint is shared, and undelivered lines are
// simply read again from the committed offset next time.
func (c *collector) round(ctx context.Context) (more bool, err error) {
	now := time.Now()
	for _, s := range c.sources {
		if s.refresh(now, c.opts.Logger) {
			c.dirty = true
		}
	}
	if err := c.saveIfDirty(); err != nil {
		return false, err
	}
	for _, s := range c.sources {
		if ctx.Err() != nil {
			return false, nil
		}
		m, err := c.ship(ctx, s, now)
		if err != nil {
			return false, err
		}
		more = more || m
		if s.cleanup(now, c.opts.RotateGrace) {
			c.dirty = true
		}
		if err := c.saveIfDirty(); err != nil {
			return false, err
		}
	}
	return more, nil
}

// ship POSTs the new lines of s's files, oldest file first, and advances
// their offsets once the endpoint accepted them.
func (c *collector) ship(ctx context.Context, s *source, now time.Time) (more bool, err error) {
	type step struct {
		t   *tailed
		end int64
	}
	var (
		body  bytes.Buffer
		steps []step
	)
	budget := c.opts.MaxBatch
	for _, t := range s.files {
		final := !t.retiredAt.IsZero() && now.Sub(t.retiredAt) >= c.opts.RotateGrace
		data, truncated, err := t.read(budget, final)
		if truncated {
			c.dirty = true
			c.opts.Logger.Info("file truncated; reading it from the start", "source", s.Name, "path", t.path)
		}
		if err != nil {
			c.opts.Logger.Warn("cannot read file", "source", s.Name, "path", t.path, "err", err)
			continue
		}
		if len(data) == 0 {
			continue
		}
		body.Write(data)
		steps = append(steps, step{t, t.off + int64(len(data))})
		if budget -= int64(len(data)); budget <= 0 {
			more = true
			break
		}
	}
	if body.Len() == 0 {
		return false, nil
	}
	// A POST in flight is finished even when ctx ends: cancelling it could
	// leave lines received but not committed, sent again after a restart.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.SendTimeout)
	defer cancel()
	if err := c.post(sendCtx, s, body.Bytes()); err != nil {
		return false, fmt.Errorf("source %s: %w", s.Name, err)
	}
	for _, st := range steps {
		st.t.off = st.end
	}
	c.dirty = true
	return more, nil
}

func (c *collector) post(ctx context.Context, s *source, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.SetBasicAuth(c.cfg.AccessID, string(c.cfg.Key))
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("X-Sumo-Name", s.Name)
	if s.Category != "" {
		req.Header.Set("X-Sumo-Category", s.Category)
	}
	if c.cfg.Name != "" {
		req.Header.Set("X-Sumo-Host", c.cfg.Name)
	}
	// net/http's errors name the URL without its password; the access key
	// travels only in the Authorization header.
	resp, err := c.opts.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drained for reuse; the status says how it went
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return nil
}

func (c *collector) saveIfDirty() error {
	if !c.dirty {
		return nil
	}
	return c.save()
}

func (c *collector) save() error {
	of := offsetsFile{Sources: map[string][]fileOffset{}}
	for _, s := range c.sources {
		entries := []fileOffset{}
		for _, t := range s.files {
			entries = append(entries, fileOffset{Path: t.path, Dev: t.id.dev, Ino: t.id.ino, Offset: t.off})
		}
		of.Sources[s.Name] = entries
	}
	if err := saveOffsets(c.offsetsPath, of); err != nil {
		return err
	}
	c.dirty = false
	return nil
}

func (c *collector) close() {
	for _, s := range c.sources {
		s.close()
	}
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}
