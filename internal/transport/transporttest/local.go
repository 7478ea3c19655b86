// Package transporttest is a transport.Transport on the local machine, for
// the tests of the engine and of the kinds: scripts run with the local
// /bin/sh, as the user running the tests, and files are written locally.
// For tests only.
package transporttest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/skiffdeploy/skiff/internal/transport"
)

// Local runs scripts by piping them into /bin/sh, as over SSH, and
// records them: a test can read the scripts, and count round trips.
type Local struct {
	mu      sync.Mutex
	Scripts []string // every script run, in order (read once runs are done)
}

var _ transport.Transport = (*Local)(nil)

// Run runs script with /bin/sh, the script on stdin. A non-zero exit is
// the result's ExitCode, not an error.
func (l *Local) Run(ctx context.Context, script string) (transport.Result, error) {
	l.mu.Lock()
	l.Scripts = append(l.Scripts, script)
	l.mu.Unlock()
	cmd := exec.CommandContext(ctx, "/bin/sh")
	cmd.Stdin = strings.NewReader(script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := transport.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, nil
	}
	return res, err
}

// Runs is the number of scripts run so far: the round trips.
func (l *Local) Runs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.Scripts)
}

// Reset forgets the scripts run so far.
func (l *Local) Reset() {
	l.mu.Lock()
	l.Scripts = nil
	l.mu.Unlock()
}

// WriteFile writes path with perm, creating or truncating it.
func (l *Local) WriteFile(_ context.Context, path string, content io.Reader, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, content); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil { // perm regardless of umask, as over SFTP
		f.Close()
		return err
	}
	return f.Close()
}

// Stat stats path.
func (l *Local) Stat(_ context.Context, path string) (transport.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return transport.FileInfo{}, err
	}
	return transport.FileInfo{Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}, nil
}

// Close does nothing.
func (l *Local) Close() error { return nil }
