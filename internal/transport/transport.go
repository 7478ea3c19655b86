// Package transport defines how skiff reaches a host: run a shell script,
// write a file, stat a path. One Transport is one live connection to one host,
// kept for a whole run.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Result is what a remote script produced. A non-zero ExitCode is not a
// transport error: the caller decides what it means.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// FileInfo is the part of a remote stat that skiff uses.
type FileInfo struct {
	Size    int64
	Mode    os.FileMode
	ModTime time.Time
	IsDir   bool
}

// Transport is a connection to one host.
//
// Run executes script with /bin/sh on the host, as root when the host's
// become setting says so. The script travels on the session's stdin, never in
// argv, so nothing in it (secrets included) shows in the remote process list.
//
// WriteFile writes exactly path (as root when become is set) with perm, creating
// or truncating it; perm is set before any content lands. It follows a
// symlink at path, so callers write only where no other user can plant
// one, and place the file with Run (filestate's staging folder).
//
// Stat reports os.ErrNotExist (wrapped) when path is missing.
//
// Every method is safe for concurrent use. Errors caused by the connection
// itself (not by the script) are *UnreachableError.
type Transport interface {
	Run(ctx context.Context, script string) (Result, error)
	WriteFile(ctx context.Context, path string, content io.Reader, perm os.FileMode) error
	Stat(ctx context.Context, path string) (FileInfo, error)
	Close() error
}

// UnreachableError says the host could not be reached or the connection was
// lost: the host is reported "unreachable", not "failed".
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s: unreachable: %v", e.Host, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// IsUnreachable reports whether err is, or wraps, an *UnreachableError.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}
