package lock

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/internal/wire"
)

// The lock file is JSON, one top-level field per line, so that the remote
// script can check it with grep and sed while holding flock:
//
//	{
//	  "owner": "alice@laptop",
//	  "run_id": "…",
//	  "command": "apply",
//	  "pid": 4242,
//	  "machine": "…",              (Self's identity of the process: optional,
//	  "pid_space": "…",             absent from the locks of older skiffs)
//	  "pid_start": 123456,
//	  "started": "2026-…Z",        (operator's clock, for people reading the file)
//	  "heartbeat": "2026-…Z",      (operator's clock, for people reading the file)
//	  "host_started": 1767225600,  (host's clock, epoch seconds)
//	  "host_heartbeat": 1767225605 (host's clock: staleness is judged on it)
//	}
//
// Go writes every line up to "heartbeat"; the script appends the host_ lines
// with the host's `date +%s`, so operator clock skew never matters.

// record is the lock file as stored on the host.
type record struct {
	Owner         string    `json:"owner"`
	RunID         string    `json:"run_id"`
	Command       string    `json:"command"`
	PID           int       `json:"pid"`
	Machine       string    `json:"machine"`
	PIDSpace      string    `json:"pid_space"`
	PIDStart      uint64    `json:"pid_start"`
	Started       time.Time `json:"started"`
	Heartbeat     time.Time `json:"heartbeat"`
	HostStarted   int64     `json:"host_started"`
	HostHeartbeat int64     `json:"host_heartbeat"`
}

// body renders info as the first lines of the lock file, up to and with the
// comma after "heartbeat", and returns the exact "run_id" line too.
func body(info Info) (text, runIDLine string, err error) {
	b, err := json.MarshalIndent(struct {
		Owner     string    `json:"owner"`
		RunID     string    `json:"run_id"`
		Command   string    `json:"command"`
		PID       int       `json:"pid"`
		Machine   string    `json:"machine,omitempty"`
		PIDSpace  string    `json:"pid_space,omitempty"`
		PIDStart  uint64    `json:"pid_start,omitempty"`
		Started   time.Time `json:"started"`
		Heartbeat time.Time `json:"heartbeat"`
	}{info.Owner, info.RunID, info.Command, info.PID, info.Machine, info.PIDSpace, info.PIDStart, info.Started.UTC(), info.Heartbeat.UTC()}, "", "  ")
	if err != nil {
		return "", "", err
	}
	s, ok := strings.CutSuffix(string(b), "\n}")
	if !ok {
		return "", "", fmt.Errorf("unexpected JSON layout %q", b)
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, `  "run_id": `) {
			runIDLine = line
		}
	}
	if want, err := runIDLineOf(info.RunID); err != nil || runIDLine != want {
		return "", "", fmt.Errorf("unexpected JSON layout %q", b)
	}
	return s + ",\n", runIDLine, nil
}

// runIDLineOf is the "run_id" line of the lock file of run id, as body
// writes it.
func runIDLineOf(id string) (string, error) {
	b, err := json.Marshal(id)
	if err != nil {
		return "", err
	}
	return `  "run_id": ` + string(b) + ",", nil
}

// shQuote quotes s as one sh word.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// A lock script replies in frames (package wire): "now", the host's clock
// in epoch seconds; "state", the script's verdict; and, where the script
// shows it, "lock", the lock file as it was.

// script is a lock script and the token of its reply's frames.
type script struct {
	text string
	tok  wire.Token
}

// newScript is the lock script whose operation is body (after the reply
// functions, which it uses):
//
//	clock EPOCH  replies the host's time
//	state S      replies the verdict
//	show         replies the lock file
func newScript(body string) script {
	tok := wire.NewToken()
	return script{
		text: "clock() {\n" + tok.Section("now", `printf %s "$1"`) + "}\n" +
			"state() {\n" + tok.Section("state", `printf %s "$1"`) + "}\n" +
			"show() {\n" + tok.Section("lock", `cat "$lock"`) + "}\n" + body,
		tok: tok,
	}
}

// prelude opens the lock directory, takes flock on lock.flock beside the
// lock file and replies the host's clock. With create unset, a missing
// directory means the lock is free: the script replies "free" and ends.
//
// It defines, for the operation that follows:
//
//	valid  true when the file is well formed; sets $hb and $st (host epochs)
//	ours   true when the file's run_id line is runIDLine
//	write  writes the lock (the body, host_started=$1, host_heartbeat=$now)
//	       to a temporary file and renames it over the lock
func prelude(dir string, create bool, runIDLine, jsonBody string) string {
	var b strings.Builder
	b.WriteString("umask 077\n")
	b.WriteString("dir=" + shQuote(dir) + "\n")
	b.WriteString(`lock="$dir/lock"` + "\n")
	if create {
		b.WriteString(`[ -d "$dir" ] || mkdir -p "$dir" || exit 1` + "\n")
	} else {
		b.WriteString(`[ -d "$dir" ] || { clock "$(date +%s)"; state free; exit 0; }` + "\n")
	}
	b.WriteString(`exec 9>>"$dir/lock.flock" || exit 1
flock -w 30 9 || { echo "timed out waiting for flock on $dir/lock.flock" >&2; exit 1; }
now=$(date +%s)
clock "$now"
field() { sed -n "s/^  \"$1\": \([1-9][0-9]*\),\{0,1\}\$/\1/p" "$lock" | head -n 1; }
valid() {
	[ "$(head -n 1 "$lock")" = "{" ] && [ "$(tail -n 1 "$lock")" = "}" ] &&
		grep -q '^  "run_id": "' "$lock" &&
		hb=$(field host_heartbeat) && [ -n "$hb" ] &&
		st=$(field host_started) && [ -n "$st" ]
}
`)
	if runIDLine != "" {
		b.WriteString("ours() { grep -qxF -e " + shQuote(runIDLine) + ` "$lock"; }` + "\n")
	}
	if jsonBody != "" {
		b.WriteString("write() {\n\t{\n\t\t" + wire.Heredoc("cat", jsonBody))
		b.WriteString(`		printf '  "host_started": %s,\n  "host_heartbeat": %s\n}\n' "$1" "$now"
	} >"$lock.tmp" && mv -f "$lock.tmp" "$lock"
}
`)
	}
	return b.String()
}

// acquireScript takes the lock when it is free, stale (heartbeat older than
// ttlSec on the host's clock), corrupt, already ours, or, with deadLine
// set, held by the run whose "run_id" line that is.
func acquireScript(dir, runIDLine, jsonBody string, ttlSec int64, deadLine string) script {
	dead := ""
	if deadLine != "" {
		dead = `elif grep -qxF -e ` + shQuote(deadLine) + ` "$lock"; then
	state dead
	show
	write "$now" || exit 1
`
	}
	return newScript(prelude(dir, true, runIDLine, jsonBody) + `if [ ! -e "$lock" ]; then
	write "$now" || exit 1
	state acquired
elif ! valid; then
	state corrupt
	show
	write "$now" || exit 1
elif ours; then
	write "$st" || exit 1
	state ours
` + dead + `elif [ $((now - hb)) -gt ` + strconv.FormatInt(ttlSec, 10) + ` ]; then
	state stale
	show
	write "$now" || exit 1
else
	state held
	show
fi
`)
}

// heartbeatScript refreshes host_heartbeat when the lock is still ours.
func heartbeatScript(dir, runIDLine, jsonBody string) script {
	return newScript(prelude(dir, true, runIDLine, jsonBody) + `if [ ! -e "$lock" ]; then
	state gone
elif valid && ours; then
	write "$st" || exit 1
	state ok
else
	state other
	show
fi
`)
}

// releaseScript removes the lock when it is ours.
func releaseScript(dir, runIDLine string) script {
	return newScript(prelude(dir, false, runIDLine, "") + `if [ ! -e "$lock" ]; then
	state gone
elif ours; then
	rm -f "$lock" || exit 1
	state released
else
	state other
	show
fi
`)
}

// statusScript prints the lock, if any. No lock file needs neither flock
// nor the host's clock: a lock is renamed into place whole and removed
// whole, so its absence is read as safely without the flock (and a
// status read is advice: apply locks, and reads again, before changing).
func statusScript(dir string) script {
	return newScript("[ -e " + shQuote(dir+"/lock") + " ] || { state free; exit 0; }\n" +
		prelude(dir, false, "", "") + `if [ -e "$lock" ]; then
	state held
	show
else
	state free
fi
`)
}

// forceReleaseScript prints and removes whatever lock there is.
func forceReleaseScript(dir string) script {
	return newScript(prelude(dir, false, "", "") + `if [ -e "$lock" ]; then
	state removed
	show
	rm -f "$lock" || exit 1
else
	state free
fi
`)
}

// reply is what a lock script printed.
type reply struct {
	now   int64  // host clock, epoch seconds
	state string // the script's verdict
	file  []byte // the lock file as it was, when shown
	shown bool
}

// parseReply reads the reply frames of a script marked with tok.
func parseReply(out []byte, tok wire.Token) (reply, error) {
	var r reply
	_, frames, err := wire.Parse(out, tok)
	if err != nil {
		return r, fmt.Errorf("the lock script's reply: %w", err)
	}
	for _, f := range frames {
		switch f.Name {
		case "now":
			n, err := strconv.ParseInt(string(f.Body), 10, 64)
			if err != nil {
				return r, fmt.Errorf("bad host time %q", f.Body)
			}
			r.now = n
		case "state":
			r.state = string(f.Body)
		case "lock":
			r.file, r.shown = f.Body, true
		}
	}
	if (r.now == 0 && r.state != "free") || r.state == "" {
		return r, fmt.Errorf("unexpected output from the lock script: %q", out)
	}
	return r, nil
}

// holder decodes the lock file shown in r. Its times are expressed on the
// caller's clock (localNow), from their age on the host's clock. A file that
// does not decode gives an Info with only Corrupt set.
func (r reply) holder(localNow time.Time) *Info {
	var rec record
	if err := json.Unmarshal(r.file, &rec); err != nil || rec.RunID == "" || rec.HostHeartbeat == 0 || rec.HostStarted == 0 {
		return &Info{Corrupt: true}
	}
	ago := func(epoch int64) time.Time {
		return localNow.Add(-time.Duration(r.now-epoch) * time.Second)
	}
	return &Info{
		Owner:     rec.Owner,
		RunID:     rec.RunID,
		Command:   rec.Command,
		PID:       rec.PID,
		Machine:   rec.Machine,
		PIDSpace:  rec.PIDSpace,
		PIDStart:  rec.PIDStart,
		Started:   ago(rec.HostStarted),
		Heartbeat: ago(rec.HostHeartbeat),
	}
}
