package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/journal"
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
	"github.com/skiffdeploy/skiff/internal/wire"
)

// HostRunsDir is where a host keeps its copy of each run's journal and the
// backups undo needs (root only), one directory per run that changed the
// host; apply keeps the newest runs' (keep_runs) and prunes the others.
const HostRunsDir = "/var/lib/skiff/runs"

// hostRunsDir is HostRunsDir, or where the engine was told to keep runs.
func (e *Engine) hostRunsDir() string {
	if e.HostRuns != "" {
		return e.HostRuns
	}
	return HostRunsDir
}

// record saves, before a change is made, what undoing it needs: the
// module's backup runs on the host, and the entry goes to the journal on the
// operator's machine and on the host. With Locks, it fails, changing
// nothing, when the run does not hold the host's lock. Without a journal
// it only checks the lock.
func (a *applier) record(ctx context.Context, hr *hostRun, p *config.Play, b *Bound, c *module.Change) error {
	e := a.e
	if a.Journal == nil {
		if a.Locks == nil {
			return nil
		}
		conn, err := e.targetConn(ctx, hr, b)
		if err != nil {
			return err
		}
		_, err = Guarded(conn, a.Locks, e.targetName(hr, b)).Run(context.WithoutCancel(ctx), ":")
		return err
	}
	seq := a.Journal.NextSeq()
	runDir := e.hostRunsDir() + "/" + e.RunID
	dir := fmt.Sprintf("%s/%d", runDir, seq)
	entry := journal.Entry{
		Seq: seq, Host: hr.host.Name, Play: p.Name, Role: b.Role.Name, Task: b.ID(),
		Summary: e.Scope.Scrub(c.Summary), Time: time.Now().UTC(),
	}
	if b.Target != nil { // the change happens on the delegate: so does its undo
		entry.Host = b.Target.Name
	}
	conn, err := e.targetConn(ctx, hr, b)
	if err != nil {
		return err
	}
	var backup string
	if r, ok := b.Module.(module.Reversible); ok {
		backup, entry.Undo, entry.After = r.Reversal(dir)
	}
	line, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	var script strings.Builder
	fmt.Fprintf(&script, "umask 077\nmkdir -p %s || exit 1\n", shell.Quote(dir))
	// The host's first change of the run prunes its older runs, in the
	// session that records it: no round trip of its own.
	tok := wire.NewToken()
	if _, pruned := a.pruned.LoadOrStore(entry.Host, true); !pruned {
		script.WriteString(tok.Section("prune", pruneScript(e.hostRunsDir(), e.RunID, keepRuns(e.Inventory.Host(entry.Host)))))
	}
	if backup != "" {
		fmt.Fprintf(&script, "(\n%s\n) || { echo 'backup before the change failed' >&2; exit 1; }\n", backup)
	}
	script.WriteString(wire.Heredoc("cat >> "+shell.Quote(runDir+"/journal.jsonl"), string(line)))
	res, err := Guarded(conn, a.Locks, entry.Host).Run(context.WithoutCancel(ctx), script.String())
	if err != nil {
		return err
	}
	_, frames, _ := wire.Parse(res.Stdout, tok)
	if f, ok := wire.Find(frames, "prune"); ok && e.Warn != nil {
		for _, msg := range strings.Split(strings.TrimSpace(string(f.Body)), "\n") {
			if msg != "" {
				e.Warn("%s: pruning older runs' backups: %s", entry.Host, msg)
			}
		}
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("saving what undo needs: exit %d: %s", res.ExitCode, tail(res.Stderr))
	}
	if err := a.Journal.Append(entry); err != nil {
		return err
	}
	a.playedMu.Lock()
	hr.played = append(hr.played, entry)
	a.playedMu.Unlock()
	return nil
}

// rollbackPlay undoes the host's changes of the current play, newest first,
// then runs their after steps (services reloaded on the restored config),
// on every host whose lock the run still holds. It returns a sentence for
// the host's error.
func (a *applier) rollbackPlay(ctx context.Context, hr *hostRun) string {
	e := a.e
	e.probes.changed() // undoing changes the hosts: nothing read ahead holds
	// Newest first, grouped by the host each change happened on: the host
	// itself first, then the hosts its tasks were delegated to.
	byHost := map[string][]journal.Entry{}
	order := []string{hr.host.Name}
	for i := len(hr.played) - 1; i >= 0; i-- {
		en := hr.played[i]
		if _, ok := byHost[en.Host]; !ok && en.Host != hr.host.Name {
			order = append(order, en.Host)
		}
		byHost[en.Host] = append(byHost[en.Host], en)
	}
	total := len(hr.played)
	hr.played = nil
	var undoneN, kept int
	var problems []string
	var lost map[string]error
	if a.Locks != nil {
		lost = a.Locks.Lost()
	}
	for _, name := range order {
		entries := byHost[name]
		if len(entries) == 0 {
			continue
		}
		if lost[name] != nil {
			// Another run may hold it now: its host is that run's.
			kept += len(entries)
			problems = append(problems, fmt.Sprintf("%s not rolled back: the run no longer holds its deploy lock", name))
			continue
		}
		conn := hr.conn
		if name != hr.host.Name {
			var err error
			if conn, err = e.conn(ctx, e.Inventory.Host(name)); err != nil {
				problems = append(problems, fmt.Sprintf("on %s: %v", name, err))
				continue
			}
		}
		undone, probs := Undo(context.WithoutCancel(ctx), Guarded(conn, a.Locks, name), entries)
		undoneN += len(undone)
		for _, pr := range probs {
			if name != hr.host.Name {
				pr = "on " + name + ": " + pr
			}
			problems = append(problems, pr)
		}
		if len(undone) > 0 && a.Journal != nil {
			_ = a.Journal.MarkUndone(journal.Undone{Host: name, Seqs: undone, By: "automatic"})
		}
	}
	hr.out.RolledBack = kept < total
	msg := fmt.Sprintf("rolled back %d of %d change(s)", undoneN, total)
	if len(problems) > 0 {
		msg += " (" + strings.Join(problems, "; ") + ")"
	}
	e.told.HostDone(hr.host.Name, "", plan.StatusRolledBack, msg)
	return msg
}

// Undo runs the undo fragments of entries (in the order given: newest
// first) and then each distinct after fragment, in one remote script. It
// returns the seqs undone and a note for each thing that could not be.
func Undo(ctx context.Context, t transport.Transport, entries []journal.Entry) (undone []int, problems []string) {
	tok := wire.NewToken()
	var script strings.Builder
	script.WriteString("d=$(mktemp -d) || exit 1\ntrap 'rm -rf \"$d\"' EXIT\n")
	var afters []string
	seenAfter := map[string]bool{}
	bySeq := map[int]journal.Entry{}
	for _, en := range entries {
		bySeq[en.Seq] = en
		if !en.Reversible() {
			problems = append(problems, fmt.Sprintf("%s %s cannot be undone", en.Role, en.Task))
			continue
		}
		script.WriteString(tok.Section("undo-"+strconv.Itoa(en.Seq), quietly(en.Undo)))
		if en.After != "" && !seenAfter[en.After] {
			seenAfter[en.After] = true
			afters = append(afters, en.After)
		}
	}
	for i, a := range afters {
		script.WriteString(tok.Section("after-"+strconv.Itoa(i), quietly(a)))
	}
	res, err := t.Run(ctx, script.String())
	if err != nil {
		return nil, append(problems, "undo could not run: "+err.Error())
	}
	_, frames, _ := wire.Parse(res.Stdout, tok)
	for _, f := range frames {
		detail := strings.TrimSpace(strings.ReplaceAll(string(f.Body), "\n", " "))
		if s, ok := strings.CutPrefix(f.Name, "undo-"); ok {
			n, _ := strconv.Atoi(s)
			if f.Exit == 0 {
				undone = append(undone, n)
				continue
			}
			en := bySeq[n]
			problems = append(problems, fmt.Sprintf("undo of %s %s failed: %s", en.Role, en.Task, detail))
		} else if s, ok := strings.CutPrefix(f.Name, "after-"); ok && f.Exit != 0 {
			if i, err := strconv.Atoi(s); err == nil && i >= 0 && i < len(afters) {
				problems = append(problems, fmt.Sprintf("after the undo, %q failed: %s", firstLine(afters[i]), detail))
			}
		}
	}
	if res.ExitCode != 0 && len(undone) == 0 && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("undo script: exit %d: %s", res.ExitCode, tail(res.Stderr)))
	}
	return undone, problems
}

// quietly is sh that runs fragment (nothing when empty) in a subshell,
// stdin closed, and prints nothing but, when it fails, the end of its
// stderr (kept in "$d/err"); its exit status is the fragment's.
func quietly(fragment string) string {
	if fragment == "" {
		return ":"
	}
	return "if (\n" + fragment + "\n) </dev/null >/dev/null 2>\"$d/err\"; then :; else rc=$?; tail -n 3 \"$d/err\"; (exit $rc); fi"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
