package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/engine"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/jsondoc"
	"github.com/skiffdeploy/skiff/internal/lock"
	"github.com/skiffdeploy/skiff/internal/parallel"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Statuses of a host in `skiff lock` output, besides plan's unreachable and failed.
const (
	lockFree     plan.Status = "free"
	lockHeld     plan.Status = "held"
	lockReleased plan.Status = "released"
)

// lockHost is one host's line of `skiff lock status|release`.
type lockHost struct {
	Name   string      `json:"name"`
	Status plan.Status `json:"status"` // free, held, released, unreachable, failed
	Lock   *lock.Info  `json:"lock,omitempty"`
	// HeartbeatAge is the holder's heartbeat age in seconds; Stale says it
	// is older than lock.DefaultTTL, so the next apply takes the lock over.
	HeartbeatAge int64  `json:"heartbeat_age_seconds,omitempty"`
	Stale        bool   `json:"stale,omitempty"`
	Error        string `json:"error,omitempty"`
}

func newLockCmd(c *console, dial engine.Dialer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Show or release the per-host deploy lock",
		Long: `Every apply and rollback holds a deploy lock on each host it touches
(` + lock.DefaultDir + `/lock on the host): who runs it (user@machine), its run
id, command, process id, when it started, and a heartbeat it refreshes while
it lives. Another run on that host is refused while the lock is held.

A lock whose heartbeat is older than ` + lock.DefaultTTL.String() + ` belongs to a dead run: the
next apply takes it over by itself and says so. So you rarely need
"lock release": only when a run died and you can't wait for its heartbeat to
go stale.`,
	}
	cmd.AddCommand(newLockStatusCmd(c, dial), newLockReleaseCmd(c, dial))
	return cmd
}

// lockOptions are skiff lock status's and skiff lock release's.
type lockOptions struct {
	hostOptions
	yes bool // release without asking
}

func (o *lockOptions) finish([]string) error { return o.check() }

func parseLockStatus(args []string) (lockOptions, error) { return parseWith(defineLockStatus, args) }

func defineLockStatus(o *lockOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status -i INVENTORY [--limit SEL]",
		Short: "Show who holds the deploy lock on each host",
		Long: `status prints, for every selected host, whether the deploy lock is free or
who holds it: owner, run id, command, process id, since when, and how long
ago its heartbeat was (stale when older than ` + lock.DefaultTTL.String() + `). It changes nothing.
Exit 1 only when a host can't be reached or read.`,
		Example: `  skiff lock status -i inventory.hcl
  skiff lock status -i inventory.hcl --limit web --output json`,
		Args: cobra.NoArgs,
	}
	addHostFlags(cmd, &o.hostOptions)
	return cmd
}

func newLockStatusCmd(c *console, dial engine.Dialer) *cobra.Command {
	return command(defineLockStatus, func(ctx context.Context, o lockOptions) error {
		hosts, reachHost, err := lockHosts(c, o, dial)
		if err != nil {
			return err
		}
		return reportLock(c, o.output, "lock-status", lockStatus(ctx, lock.Store{}, hosts, o.forks, reachHost))
	})
}

func parseLockRelease(args []string) (lockOptions, error) { return parseWith(defineLockRelease, args) }

func defineLockRelease(o *lockOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release -i INVENTORY [--limit SEL] [--yes]",
		Short: "Force-release the deploy lock of a dead run",
		Long: `release removes the deploy lock on the selected hosts, whoever holds it, and
prints what it removed.

Release a lock only when its holder is dead: its skiff process was killed,
or its laptop lost power or network. "skiff lock status" shows the owner
(user@machine) and process id to check. Releasing the lock of a live run
lets a second run change the same hosts: the live run checks its lock on
the host before each change, so it makes no further change there, and it
notices the loss at the latest at its next heartbeat (every ` + lock.DefaultHeartbeat.String() + `); from
then on it makes no change on any host, rolls back its interrupted plays
where it still holds the locks, and exits 1 naming the host and the new
holder. A dead run's lock also goes stale by itself after ` + lock.DefaultTTL.String() + `, when the
next apply takes it over.

On a terminal, release first shows the locks and asks. Without a terminal
it needs --yes. Use --limit to release only some hosts.`,
		Example: `  skiff lock release -i inventory.hcl --limit web1
  skiff lock release -i inventory.hcl --limit web --yes`,
		Args: cobra.NoArgs,
	}
	addHostFlags(cmd, &o.hostOptions)
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "release without asking")
	return cmd
}

func newLockReleaseCmd(c *console, dial engine.Dialer) *cobra.Command {
	return command(defineLockRelease, func(ctx context.Context, o lockOptions) error {
		if !o.yes && !c.inTTY {
			return fmt.Errorf("release removes deploy locks and there is no terminal to ask on: pass --yes")
		}
		hosts, reachHost, err := lockHosts(c, o, dial)
		if err != nil {
			return err
		}
		if !o.yes {
			var done bool
			if hosts, done, err = heldLocks(ctx, c, o, hosts, reachHost); done {
				return err
			}
		}
		return reportLock(c, o.output, "lock-release", lockRelease(ctx, lock.Store{}, hosts, o.forks, reachHost))
	})
}

// heldLocks shows the locks of hosts and asks to release the held ones;
// it returns those (only what the operator saw held), or done with the
// error to return when there are none or the answer is not "yes".
func heldLocks(ctx context.Context, c *console, o lockOptions, hosts []*inventory.Host, dial engine.Dialer) (held []*inventory.Host, done bool, err error) {
	st := lockStatus(ctx, lock.Store{}, hosts, o.forks, dial)
	writeLockText(c.err, st, time.Now())
	failed := false
	for i, r := range st {
		switch r.Status {
		case lockHeld:
			held = append(held, hosts[i])
		case plan.StatusUnreachable, plan.StatusFailed:
			failed = true
		}
	}
	if len(held) == 0 {
		fmt.Fprintln(c.err, "\nNo deploy lock to release.")
		if o.output.json() {
			_ = writeLockJSON(c.out, "lock-release", st)
		}
		if failed {
			return nil, true, exitError{1}
		}
		return nil, true, nil
	}
	if !c.confirm(fmt.Sprintf("\nRelease the deploy lock on %d host(s)? Do it only if the holding run is dead.\n", len(held))) {
		fmt.Fprintln(c.err, "Release cancelled.")
		return nil, true, exitError{1}
	}
	return held, false, nil
}

// lockHosts reads the sudo password if asked, loads the inventory, and
// returns the selected hosts and how to reach them.
func lockHosts(c *console, o lockOptions, dial engine.Dialer) ([]*inventory.Host, engine.Dialer, error) {
	r, err := newReach(c, o.conn, dial)
	if err != nil {
		return nil, nil, err
	}
	ld, err := loadHosts(c, o.hostOptions)
	if err != nil {
		return nil, nil, err
	}
	return ld.hosts(), r.dialer(), nil
}

// lockStatus reads the lock of every host in store.
func lockStatus(ctx context.Context, store lock.Store, hosts []*inventory.Host, forks int, dial engine.Dialer) []lockHost {
	return eachLock(ctx, hosts, forks, dial, store.Status, lockHeld)
}

// lockRelease force-releases the lock of every host in store.
func lockRelease(ctx context.Context, store lock.Store, hosts []*inventory.Host, forks int, dial engine.Dialer) []lockHost {
	return eachLock(ctx, hosts, forks, dial, store.ForceRelease, lockReleased)
}

// eachLock runs op on every host, at most forks at once, in host order. A
// host where op returns a lock gets status found, else free.
func eachLock(ctx context.Context, hosts []*inventory.Host, forks int, dial engine.Dialer,
	op func(context.Context, transport.Transport) (*lock.Info, error), found plan.Status) []lockHost {
	now := time.Now()
	out := make([]lockHost, len(hosts))
	parallel.Each(len(hosts), forks, func(i int) {
		h := hosts[i]
		r := lockHost{Name: h.Name}
		var info *lock.Info
		t, err := dial(ctx, h) // its errors name the host
		if err == nil {
			info, err = op(ctx, t)
			t.Close()
			if err != nil && !transport.IsUnreachable(err) {
				err = fmt.Errorf("%s: %w", h.Name, err)
			}
		}
		switch {
		case err != nil:
			r.Status, r.Error = plan.StatusOf(err), err.Error()
		case info == nil:
			r.Status = lockFree
		default:
			r.Status, r.Lock = found, info
			if !info.Corrupt {
				age := lock.Age(*info, now)
				r.HeartbeatAge, r.Stale = int64(age/time.Second), age > lock.DefaultTTL
			}
		}
		out[i] = r
	})
	return out
}

// reportLock renders res as text or JSON on stdout; exit 1 when a host
// could not be reached or read.
func reportLock(c *console, out output, mode string, res []lockHost) error {
	if out.json() {
		if err := writeLockJSON(c.out, mode, res); err != nil {
			return err
		}
	} else {
		writeLockText(c.out, res, time.Now())
	}
	for _, r := range res {
		if r.Status == plan.StatusUnreachable || r.Status == plan.StatusFailed {
			return exitError{1}
		}
	}
	return nil
}

func writeLockJSON(w io.Writer, mode string, res []lockHost) error {
	return jsondoc.WriteJSON(w, struct {
		Mode  string     `json:"mode"`
		Hosts []lockHost `json:"hosts"`
	}{mode, res})
}

// writeLockText prints one line per host, names aligned.
func writeLockText(w io.Writer, res []lockHost, now time.Time) {
	width := 0
	for _, r := range res {
		width = max(width, len(r.Name))
	}
	for _, r := range res {
		var line string
		switch {
		case r.Error != "":
			line = string(r.Status) + ": " + r.Error
		case r.Lock == nil:
			line = string(r.Status)
		default:
			verb := "held by "
			if r.Status == lockReleased {
				verb = "released, was held by "
			}
			line = verb + lock.Describe(*r.Lock, now)
			if r.Lock.PID != 0 {
				line += fmt.Sprintf(", pid %d", r.Lock.PID)
			}
			if r.Stale && r.Status == lockHeld {
				line += " (stale: the next apply takes it over)"
			}
			if r.Lock.Corrupt && r.Status == lockHeld {
				line += " (the next apply takes it over)"
			}
		}
		fmt.Fprintf(w, "%-*s  %s\n", width, r.Name, line)
	}
}
