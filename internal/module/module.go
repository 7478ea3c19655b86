// Package module defines the contract every task kind (package, file,
// template, service…) fulfils, and Args, the evaluated arguments a task
// kind is built from. The kinds themselves live in subpackages.
package module

import (
	"context"

	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
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

// Reversible is implemented by modules whose change can be undone. The
// engine calls Reversal after Check returned a change and before Apply.
// dir is a fresh, root-only (0700) folder on the host for this task's
// backups (the engine creates it: /var/lib/skiff/runs/<run>/<n>).
// Each fragment runs as root in its own subshell (it may exit) and must not
// read its stdin, which may be the rest of the engine's script; a non-zero
// exit is a failure, explained on stderr.
//   - backup: run on the host just before Apply; it saves under dir whatever
//     undo needs and changes nothing else. When it fails, Apply does not run.
//     "" when nothing needs saving.
//   - undo: restores the state from before Apply. The engine records it in
//     the run's journal; a rollback (automatic, on a failure later in the
//     play, or `skiff rollback` days later) runs the undo fragments of a run
//     in reverse order. It is idempotent (safe to run twice) and works
//     whether or not Apply completed.
//   - after: run once by a rollback, after all undo fragments (e.g. reload a
//     service on its restored config); "" when none. Equal after fragments
//     run once.
//
// All three empty means the change cannot be undone: a kind whose undo
// depends on its arguments (command with or without `undo`) reports it so,
// and the engine records the change as irreversible, like one of a module
// that does not implement Reversible at all. None of them may contain a
// secret value (they are stored on the operator's machine in clear): secret
// content is restored from the backup on the host.
type Reversible interface {
	Reversal(dir string) (backup, undo, after string)
}

// ContentWriter is implemented by kinds that write content made on the
// operator's machine (a local file read, a template rendered for the
// host, an inline argument). After Check returned a change, Written
// returns the content Apply would write and where it comes from: a local
// path, or a description such as "the task's content argument", never a
// value. ok is false when Apply writes no content (owner or mode only, a
// removal). A saved plan pins the content by its digest.
type ContentWriter interface {
	Written() (content []byte, source string, ok bool)
}

// Volatile is implemented by kinds whose probe reads state that changes on
// its own (a health check, a load balancer's runtime view of its servers).
// The engine reads other probes ahead of their play and reuses the result
// while the run has changed nothing; a Volatile probe always runs at its
// task, fresh.
type Volatile interface {
	Volatile() bool
}

// NativeProber is implemented by kinds whose probe skiff's on-host helper
// (package hostprobe) can answer in-process, without starting a program
// per read. kind names the helper's answerer; query is JSON-encoded for
// it. The answerer prints exactly what the Probe fragment would print, or
// declines, and the fragment then runs: the fragment stays the reference,
// and is all that runs where the helper is absent. ok is false when this
// task has no native probe.
type NativeProber interface {
	NativeProbe() (kind string, query any, ok bool)
}

// NativeAnswer is the helper's answer to one native query: the output the
// Probe fragment would have printed, when OK.
type NativeAnswer struct {
	Probed
	OK bool
}

// NativeAnswerer answers, on the host, all the native queries of its kind
// in one probe batch at once (JSON-encoded, in order), one answer each.
type NativeAnswerer func(queries [][]byte) []NativeAnswer

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

// Kind is one task kind as skiff registers it: its factory and, where its
// modules have a native probe (see NativeProber), the answerers the probe
// helper runs for it, by the names NativeProbe returns. Kinds that share a
// probe (file and template) list the same answerers.
type Kind struct {
	New     Factory
	Natives map[string]NativeAnswerer
	// Serves, when set, says whether the kind can manage a host of this
	// system: nil, or why not. A run checks it as soon as a host's facts
	// are read, before any change, for every kind the host's plays use.
	Serves func(System) error
	// SpansHosts says that the kind's Apply acts on other hosts of the run
	// than its own (through HostConns): a play using it may touch any
	// host, so it never runs beside another play.
	SpansHosts bool
}

// System is what a host's /etc/os-release says of it.
type System struct {
	ID   string   // ID: "debian", "ubuntu", "fedora"
	Like []string // ID_LIKE: the systems it derives from
}

// Is reports whether s is one of ids or derives from one.
func (s System) Is(ids ...string) bool {
	for _, id := range ids {
		if s.ID == id {
			return true
		}
		for _, l := range s.Like {
			if l == id {
				return true
			}
		}
	}
	return false
}

// Kinds maps task kinds to their registration: the one list from which
// both the factories and the probe helper's answerers are drawn.
type Kinds map[string]Kind

// Registry is the factories of ks.
func (ks Kinds) Registry() Registry {
	r := Registry{}
	for name, k := range ks {
		r[name] = k.New
	}
	return r
}

// Serves is the system checks of the kinds of ks that have one.
func (ks Kinds) Serves() map[string]func(System) error {
	s := map[string]func(System) error{}
	for name, k := range ks {
		if k.Serves != nil {
			s[name] = k.Serves
		}
	}
	return s
}

// SpansHosts is the names of the kinds of ks that act on other hosts.
func (ks Kinds) SpansHosts() map[string]bool {
	s := map[string]bool{}
	for name, k := range ks {
		if k.SpansHosts {
			s[name] = true
		}
	}
	return s
}

// Answerers is every native answerer of ks, by name.
func (ks Kinds) Answerers() map[string]NativeAnswerer {
	a := map[string]NativeAnswerer{}
	for _, k := range ks {
		for name, f := range k.Natives {
			a[name] = f
		}
	}
	return a
}
