package haproxy

import (
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// lib is the sh prelude of every script of this kind: the socket client and
// the state reader. It expects $sock, $be and $srv to be set (see prelude).
//
// hap CMD sends one runtime API command and prints HAProxy's answer (which
// closes the connection after answering a non-interactive command). It uses
// socat if present, else netcat-openbsd's nc -U, else python3; it returns
// non-zero, the reason on stderr, when the socket cannot be reached. HAProxy
// answers with text, also to a command it rejects ("No such server.").
//
// hap_state prints key=value lines (see State):
//   - haproxy=down and reason=… when nothing answers on the socket (no socket
//     file, connection refused): HAProxy is not running (yet);
//   - error=… when the socket answers oddly or the client fails otherwise;
//   - haproxy=up then backend=missing, or found=no, or found=yes with
//     admin_bits, op_state, admin, forced and the server's `show stat`
//     fields status, scur, check_status, check_code, check_desc.
//
// srv_admin_state bits (HAProxy 2.6 include/haproxy/server-t.h): FMAINT 0x01,
// IMAINT 0x02, CMAINT 0x04 (configured "disabled", kept after a "ready"),
// FDRAIN 0x08, IDRAIN 0x10, RMAINT 0x20, HMAINT 0x40; SRV_ADMF_MAINT = 0x23
// and SRV_ADMF_DRAIN = 0x18. admin is the effective state (maint wins over
// drain); forced is what `set server … state` sets: maint for FMAINT,
// drain for FDRAIN, else ready. mawk has no bitwise operators: bits are
// tested with division.
const lib = `LC_ALL=C; export LC_ALL
hap_py='import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(15)
try:
    s.connect(sys.argv[1])
    s.sendall(sys.argv[2].encode() + b"\n")
    while True:
        b = s.recv(65536)
        if not b:
            break
        sys.stdout.buffer.write(b)
except OSError as e:
    sys.exit("python3: %s: %s" % (sys.argv[1], e.strerror or e))
'
hap() {
	if command -v socat >/dev/null 2>&1; then
		printf '%s\n' "$1" | socat -t 5 -T 15 - "UNIX-CONNECT:$sock"
	elif command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -q -e '-U'; then
		printf '%s\n' "$1" | nc -U -w 15 "$sock"
	elif command -v python3 >/dev/null 2>&1; then
		python3 -c "$hap_py" "$sock" "$1" </dev/null
	else
		echo "no socat, nc -U (netcat-openbsd) or python3 on the host to reach the HAProxy socket" >&2
		return 127
	fi
}
hap_state() {
	if [ ! -S "$sock" ]; then
		echo haproxy=down
		printf '%s\n' "reason=no socket $sock"
		return 0
	fi
	if ! ans=$(hap "show servers state $be" 2>&1); then
		if [ ! -S "$sock" ]; then
			echo haproxy=down
		else
			case $ans in
			*"Connection refused"*) echo haproxy=down ;;
			*) printf '%s\n' "error=$sock: $(printf '%s\n' "$ans" | head -n 1)" ;;
			esac
		fi
		printf '%s\n' "reason=$(printf '%s\n' "$ans" | head -n 1)"
		return 0
	fi
	case $ans in
	"Can't find backend"*) echo haproxy=up; echo backend=missing; return 0 ;;
	1*) ;;
	*) printf '%s\n' "error=unexpected answer to show servers state: $(printf '%s\n' "$ans" | head -n 1)"; return 0 ;;
	esac
	echo haproxy=up
	printf '%s\n' "$ans" | awk -v s="$srv" '
		/^# / { for (i = 2; i <= NF; i++) c[$i] = i - 1; next }
		c["srv_name"] && $c["srv_name"] == s {
			b = $c["srv_admin_state"] + 0
			print "found=yes"
			print "op_state=" $c["srv_op_state"]
			print "admin_bits=" b
			fm = int(b) % 2; im = int(b / 2) % 2; fd = int(b / 8) % 2; id = int(b / 16) % 2; rm = int(b / 32) % 2
			print "admin=" (fm || im || rm ? "maint" : (fd || id ? "drain" : "ready"))
			print "forced=" (fm ? "maint" : (fd ? "drain" : "ready"))
			f = 1
			exit
		}
		END { if (!f) print "found=no" }'
	hap "show stat -1 4 -1 typed" 2>/dev/null | awk -v b="$be" -v s="$srv" '
		{
			i = index($0, ":"); if (!i) next
			k = substr($0, 1, i - 1); r = substr($0, i + 1)
			i = index(r, ":"); r = substr(r, i + 1)
			i = index(r, ":"); v = substr(r, i + 1)
			if (split(k, p, ".") < 6) next
			id = p[2] "." p[3]
			val[id, p[5]] = v
			if (p[5] == "svname") ids[id] = 1
		}
		END {
			for (id in ids) if (val[id, "pxname"] == b && val[id, "svname"] == s) {
				print "status=" val[id, "status"]
				print "scur=" val[id, "scur"]
				print "check_status=" val[id, "check_status"]
				print "check_code=" val[id, "check_code"]
				print "check_desc=" val[id, "check_desc"]
			}
		}'
}
field() { printf '%s\n' "$st" | sed -n "s/^$1=//p" | head -n 1; }
`

// prelude sets the variables lib reads, then lib.
func prelude(sock, backend, server string) string {
	return fmt.Sprintf("sock=%s\nbe=%s\nsrv=%s\n", shell.Quote(sock), shell.Quote(backend), shell.Quote(server)) + lib
}

// probeScript prints hap_state's lines.
func probeScript(sock, backend, server string) string {
	return prelude(sock, backend, server) + "hap_state\n"
}

// applyScript sets the server's state and, when waitSecs > 0, polls every
// 500ms until the state is reached or the deadline passes. It always exits
// 0 after printing the last state and result=…:
//   - result=unreachable (haproxy=down/error: before any change),
//   - result=missing (backend or server not found),
//   - result=refused with answer=… (HAProxy rejected the command),
//   - result=done, or result=timeout when the wait ended at the deadline.
//
// Drain waits for scur 0; ready for status UP (or "no check", a server
// without health checks). A socket that stops answering during the wait (a
// reload) is polled again until the deadline.
func applyScript(sock, backend, server, state string, waitSecs int) string {
	var b strings.Builder
	b.WriteString(prelude(sock, backend, server))
	b.WriteString(`st=$(hap_state)
if [ "$(field haproxy)" != up ]; then printf '%s\n' "$st"; echo result=unreachable; exit 0; fi
if [ "$(field found)" != yes ]; then printf '%s\n' "$st"; echo result=missing; exit 0; fi
`)
	fmt.Fprintf(&b, "if ! ans=$(hap %s 2>&1); then printf '%%s\\n' \"reason=$(printf '%%s\\n' \"$ans\" | head -n 1)\"; echo result=unreachable; exit 0; fi\n",
		shell.Quote("set server "+backend+"/"+server+" state "+state))
	// HAProxy answers a successful "set server" with an empty line.
	b.WriteString(`ans=$(printf '%s' "$ans" | tr '\n' ' ' | sed 's/ *$//')
if [ -n "$ans" ]; then printf '%s\n' "answer=$ans"; echo result=refused; exit 0; fi
`)
	var reached string
	switch {
	case waitSecs <= 0 || state == "maint":
		b.WriteString("st=$(hap_state); printf '%s\\n' \"$st\"; echo result=done\n")
		return b.String()
	case state == "drain":
		reached = `[ "$(field scur)" = 0 ]`
	default: // ready
		reached = `case $(field status) in UP|"no check") true ;; *) false ;; esac`
	}
	fmt.Fprintf(&b, "deadline=$(( $(date +%%s) + %d ))\n", waitSecs)
	b.WriteString("while :; do\n")
	b.WriteString("\tst=$(hap_state)\n")
	fmt.Fprintf(&b, "\tif %s; then printf '%%s\\n' \"$st\"; echo result=done; exit 0; fi\n", reached)
	b.WriteString("\tif [ \"$(date +%s)\" -gt \"$deadline\" ]; then printf '%s\\n' \"$st\"; echo result=timeout; exit 0; fi\n")
	b.WriteString("\tsleep 0.1 2>/dev/null || sleep 1\n")
	b.WriteString("done\n")
	return b.String()
}

// RuntimeScript is a script that sends each command to the runtime API at
// sock, in order, and stops with exit 1 at the first HAProxy answers with
// text (a command it accepts, such as "add map", answers nothing), or
// when the socket cannot be reached (the reason on stderr). Other kinds
// use it to change HAProxy's runtime state (its maps) without a reload.
func RuntimeScript(sock string, commands ...string) string {
	var b strings.Builder
	b.WriteString(prelude(sock, "", ""))
	for _, c := range commands {
		fmt.Fprintf(&b, "ans=$(hap %s) || exit 1\n", shell.Quote(c))
		fmt.Fprintf(&b, "if [ -n \"$(printf '%%s' \"$ans\" | tr -d '[:space:]')\" ]; then printf '%%s\\n' %s \"$ans\" >&2; exit 1; fi\n", shell.Quote("HAProxy refused \""+c+"\":"))
	}
	return b.String()
}
