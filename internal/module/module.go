// Package module defines the contract every task kind (package, file,
// template, service…) fulfils, and Args, the evaluated arguments a task
// kind is built from. The kinds themselves live in subpackages.
package module

import (
	"context"

	"skiff/internal/plan"
	"skiff/internal/transport"
)

// Module is one task bound to its arguments for one host. An instance is used
// by one goroutine, once: Probe, then Check, then (when applying and Check
// found a change) Apply.
type Module interface {
	// Probe returns a POSIX sh fragment that reads the state Check needs. It
	// must change nothing. The engine runs the fragments of many tasks in one
	// remote script (as root when become is set), each in its own subshell,
	// and hands each its own stdout and exit code. "" means nothing to read.
	Probe() string

	// Check compares the probed state with the wanted one and describes the
	// change, or returns nil when the host already matches. It has no side
	// effects; it may keep what it learned for Apply.
	Check(p Probed) (*Change, error)

	// Apply makes the change that Check described.
	Apply(ctx context.Context, t transport.Transport) error
}

// Probed is the output of one task's Probe fragment.
type Probed struct {
	Stdout   []byte
	ExitCode int
}

// Change describes what Apply would do.
type Change struct {
	Action plan.Action
	// Summary is one line for humans: "install nginx (1.22.1-9)", "stopped -> started".
	Summary string
	// Diff is a unified diff for file content ("" when not a file or when
	// Sensitive). It never contains secret values.
	Diff string
	// Sensitive is set when the content involves a secret: the diff is withheld.
	Sensitive bool
}

// Factory builds a module from a task's arguments. It reports problems a user
// can fix with a.Errorf; it must tolerate unknown values (a.Unknown), which
// `skiff validate` uses for facts it cannot read without connecting.
type Factory func(a *Args) Module

// Registry maps a task kind ("template") to its factory.
type Registry map[string]Factory
