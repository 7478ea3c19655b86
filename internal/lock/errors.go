package lock

import (
	"fmt"
	"time"
)

// HeldError says the lock is held by a live run (its heartbeat is younger
// than the TTL), so this run may not start on Host.
type HeldError struct {
	Host   string
	Holder Info
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s: deploy lock held by %s; wait for it, or `skiff lock release -i INV --limit %s` if that run is dead",
		e.Host, Describe(e.Holder, time.Now()), e.Host)
}

// LostError says a lock that a run held is no longer its own: released by
// force (Holder nil) or taken over by another run (Holder set).
type LostError struct {
	Host   string
	Holder *Info
}

func (e *LostError) Error() string {
	if e.Holder == nil {
		return fmt.Sprintf("%s: deploy lock lost: it was released by someone else", e.Host)
	}
	// No heartbeat age: the message may be read long after the holder was.
	return fmt.Sprintf("%s: deploy lock lost: now held by %s", e.Host, who(*e.Holder, time.Now()))
}

// Describe renders a holder for people, with its heartbeat age as of now:
// "alice@laptop (run ID, apply) since 12:01:02 UTC, heartbeat 5s ago".
func Describe(i Info, now time.Time) string {
	if i.Corrupt {
		return who(i, now)
	}
	return fmt.Sprintf("%s, heartbeat %s ago", who(i, now), Age(i, now))
}

// who is Describe without the heartbeat.
func who(i Info, now time.Time) string {
	if i.Corrupt {
		return "an unreadable lock file"
	}
	cmd := i.Command
	if cmd == "" {
		cmd = "unknown command"
	}
	since := i.Started.UTC().Format("15:04:05 UTC")
	if now.Sub(i.Started) > 20*time.Hour {
		since = i.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return fmt.Sprintf("%s (run %s, %s) since %s", i.Owner, i.RunID, cmd, since)
}

// Age is how long ago the holder's heartbeat was, in whole seconds.
func Age(i Info, now time.Time) time.Duration {
	return max(now.Sub(i.Heartbeat), 0).Round(time.Second)
}
