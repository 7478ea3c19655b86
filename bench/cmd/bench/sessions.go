package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// sessionCounts is what one no-op run left in one host's journals.
type sessionCounts struct {
	host        string
	connections int // sshd "Accepted publickey for deploy"
	pamSessions int // sshd "session opened for user deploy" (one per login)
	channels    int // SSH session channels opened (sshd LogLevel DEBUG1 "ctype session")
	sudo        int // commands run through sudo (the journal's sudo "COMMAND=" lines)
}

// counters are the shell pipelines that count each figure on a host.
var counters = []struct {
	name string
	cmd  string
	set  func(*sessionCounts, int)
}{
	{"connections", "journalctl -t sshd --no-pager -o cat | grep -c 'Accepted publickey for deploy'", func(s *sessionCounts, n int) { s.connections = n }},
	{"pam sessions", "journalctl -t sshd --no-pager -o cat | grep -c 'session opened for user deploy'", func(s *sessionCounts, n int) { s.pamSessions = n }},
	{"channels", "journalctl -t sshd --no-pager -o cat | grep -c 'server_input_channel_open: ctype session'", func(s *sessionCounts, n int) { s.channels = n }},
	{"sudo", "journalctl -t sudo --no-pager -o cat | grep -c 'COMMAND='", func(s *sessionCounts, n int) { s.sudo = n }},
}

// debugConf makes sshd log each channel it opens; it sorts first among the
// drop-ins because sshd keeps the first value it reads.
const debugConf = "/etc/ssh/sshd_config.d/00-skiff-bench-debug.conf"

// countSessions turns on sshd's DEBUG1 log on every host, runs one no-op
// apply, and returns the difference of each host's counts before and after.
// It turns the debug log off again.
func (b *bench) countSessions(ctx context.Context) ([]sessionCounts, error) {
	for _, h := range b.c.Hosts {
		if err := b.sh(ctx, h.Name, "printf 'LogLevel DEBUG1\\n' > "+debugConf+" && sshd -t && systemctl reload ssh && sshd -T | grep -qi '^loglevel debug'"); err != nil {
			return nil, fmt.Errorf("turning on sshd's debug log: %w", err)
		}
	}
	defer func() {
		for _, h := range b.c.Hosts {
			if err := b.sh(context.WithoutCancel(ctx), h.Name, "rm -f "+debugConf+" && systemctl reload ssh"); err != nil {
				logf("turning off sshd's debug log: %v", err)
			}
		}
	}()
	time.Sleep(time.Second) // let the reloaded sshd settle
	before, err := b.counts(ctx)
	if err != nil {
		return nil, err
	}
	m, err := b.once(ctx, "sessions-apply.log", b.skiffArgs("apply", "--yes")...)
	if err != nil {
		return nil, err
	}
	if m.exit != 0 {
		return nil, fmt.Errorf("the no-op apply for counting sessions exited %d:\n%s", m.exit, tail(m.log, 20))
	}
	time.Sleep(2 * time.Second) // let the journals catch up
	after, err := b.counts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]sessionCounts, len(after))
	for i := range after {
		out[i] = sessionCounts{
			host:        after[i].host,
			connections: after[i].connections - before[i].connections,
			pamSessions: after[i].pamSessions - before[i].pamSessions,
			channels:    after[i].channels - before[i].channels,
			sudo:        after[i].sudo - before[i].sudo,
		}
	}
	return out, nil
}

// counts reads every counter on every host.
func (b *bench) counts(ctx context.Context) ([]sessionCounts, error) {
	var all []sessionCounts
	for _, h := range b.c.Hosts {
		s := sessionCounts{host: h.Name}
		for _, c := range counters {
			out, _, err := b.c.Exec(ctx, h.Name, "sh", "-c", c.cmd) // grep -c exits 1 on 0 matches
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(strings.TrimSpace(out))
			if err != nil {
				return nil, fmt.Errorf("%s: counting %s: %q", h.Name, c.name, out)
			}
			c.set(&s, n)
		}
		all = append(all, s)
	}
	return all, nil
}

// sh runs a shell command as root in host's container (not over SSH, so it
// is not counted) and fails on a non-zero exit.
func (b *bench) sh(ctx context.Context, host, cmd string) error {
	out, stderr, code, err := b.c.ExecOutput(ctx, host, "sh", "-c", cmd)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s: %q exited %d: %s%s", host, cmd, code, out, stderr)
	}
	return nil
}
