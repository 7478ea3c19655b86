package service

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// noDBus turns the D-Bus path off for the test: no socket at its path.
func noDBus(t *testing.T) {
	t.Helper()
	old := systemdPrivateSocket
	systemdPrivateSocket = filepath.Join(t.TempDir(), "no-such-socket")
	t.Cleanup(func() { systemdPrivateSocket = old })
}

func TestShowName(t *testing.T) {
	for name, want := range map[string]string{
		"ssh":                    "ssh.service",
		"nginx.service":          "nginx.service",
		"ssh.socket":             "ssh.socket",
		"multi-user.target":      "multi-user.target",
		"apt-daily.timer":        "apt-daily.timer",
		"tmp.mount":              "tmp.mount",
		"x.path":                 "x.path",
		"system.slice":           "system.slice",
		"init.scope":             "init.scope",
		"dev-sda.device":         "dev-sda.device",
		"swapfile.swap":          "swapfile.swap",
		"proc-fs.automount":      "proc-fs.automount",
		"foo.bar":                "foo.bar.service", // not a unit type: systemctl appends .service
		"php8.2-fpm":             "php8.2-fpm.service",
		"foo.Service":            "foo.Service.service",
		"systemd-journald":       "systemd-journald.service",
		"getty@tty1":             "getty@tty1.service",
		"getty@tty1.service":     "getty@tty1.service",
		"user_1:x":               "user_1:x.service",
		"foo@.service":           "", // template
		"foo@":                   "", // template
		"a@b@c":                  "",
		"@x.service":             "",
		"ssh*":                   "", // glob
		"ss?":                    "",
		"/etc/fstab":             "", // path
		"foo bar":                "",
		"foo\\x2dbar":            "", // escape
		"-x":                     "",
		".service":               "",
		"foo.":                   "",
		"":                       "",
		"é":                      "",
		strings.Repeat("a", 201): "",
	} {
		got, ok := showName(name)
		if ok != (want != "") || got != want {
			t.Errorf("showName(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

func TestBusLabel(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "_",
		"ssh.service":              "ssh_2eservice",
		"systemd-journald.service": "systemd_2djournald_2eservice",
		"getty@tty1.service":       "getty_40tty1_2eservice",
		"a_b:c":                    "a_5fb_3ac",
		"1foo.service":             "_31foo_2eservice", // a leading digit is escaped too
		"php8.2":                   "php8_2e2",
	} {
		if got := busLabel(in); got != want {
			t.Errorf("busLabel(%q) = %q, want %q", in, got, want)
		}
	}
	if p := unitPath("ssh.service"); p != "/org/freedesktop/systemd1/unit/ssh_2eservice" || !p.IsValid() {
		t.Errorf("unitPath = %q", p)
	}
}

// props are a unit's properties; reload nil leaves NeedDaemonReload out.
func props(load, active, file string, reload any) map[string]dbus.Variant {
	m := map[string]dbus.Variant{
		"Id":            dbus.MakeVariant("x.service"),
		"LoadState":     dbus.MakeVariant(load),
		"ActiveState":   dbus.MakeVariant(active),
		"SubState":      dbus.MakeVariant("running"),
		"UnitFileState": dbus.MakeVariant(file),
	}
	if reload != nil {
		m["NeedDaemonReload"] = dbus.MakeVariant(reload)
	}
	return m
}

func TestRenderShow(t *testing.T) {
	for _, tc := range []struct {
		props map[string]dbus.Variant
		known bool
		out   string
	}{
		{props("loaded", "active", "enabled", false), true, "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\n"},
		{props("loaded", "inactive", "masked", true), true, "LoadState=loaded\nActiveState=inactive\nUnitFileState=masked\nNeedDaemonReload=yes\n"},
		{props("not-found", "inactive", "", false), true, ""},     // is-enabled decides
		{props("loaded", "active", "generated", false), true, ""}, // is-enabled decides
		{props("loaded\nx", "active", "enabled", false), false, ""},
		{props("loaded", "active", "enabled", "no"), false, ""},
		{props("loaded", "active", "enabled", nil), false, ""},
		{map[string]dbus.Variant{"LoadState": dbus.MakeVariant("loaded")}, false, ""},
	} {
		s := renderShow(tc.props)
		if s.known != tc.known || string(s.stdout) != tc.out {
			t.Errorf("renderShow(%v) = %v %q; want %v %q", tc.props, s.known, s.stdout, tc.known, tc.out)
		}
	}
}

// fakeSystemd serves systemd's private socket at path, for one client:
// EXTERNAL auth for uid 0, then GetAll of org.freedesktop.systemd1.Unit
// answered from units (by object path), an error for other paths. Like
// systemd, it needs "AUTH EXTERNAL" and "BEGIN" before it answers OK (as
// sd-bus clients send them), and it fails a client that sends a request
// before it has read OK (systemd may then leave the request unread). It
// reads all of want requests before it sends any reply (and a signal
// first, as systemd sends UnitNew), so a client that waits for each reply
// before the next request gets none. It sends the paths it was asked.
func fakeSystemd(t *testing.T, path string, units map[string]map[string]dbus.Variant, want int) <-chan []string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	asked := make(chan []string, 1)
	go func() {
		defer close(asked)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if b, err := r.ReadByte(); err != nil || b != 0 {
			return
		}
		for _, want := range []string{"AUTH EXTERNAL " + hex.EncodeToString([]byte("0")) + "\r\n", "BEGIN\r\n"} {
			if line, err := r.ReadString('\n'); err != nil || line != want {
				fmt.Fprint(c, "ERROR\r\n")
				return
			}
		}
		// Nothing more until the client has read OK.
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := r.ReadByte(); r.Buffered() > 0 || err == nil {
			t.Error("client sent a request before it read OK")
			return
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprint(c, "OK 0123456789abcdef0123456789abcdef\r\n")
		var reqs []*dbus.Message
		var paths []string
		for len(reqs) < want {
			m, err := dbus.DecodeMessage(r)
			if err != nil {
				return
			}
			reqs = append(reqs, m)
			p, _ := m.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
			paths = append(paths, string(p))
		}
		signal := &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath:      dbus.MakeVariant(dbus.ObjectPath("/org/freedesktop/systemd1")),
			dbus.FieldInterface: dbus.MakeVariant("org.freedesktop.systemd1.Manager"),
			dbus.FieldMember:    dbus.MakeVariant("UnitNew"),
			dbus.FieldSignature: dbus.MakeVariant(dbus.SignatureOf("", dbus.ObjectPath("/"))),
		}, Body: []any{"nosuch.service", dbus.ObjectPath("/org/freedesktop/systemd1/unit/nosuch_2eservice")}}
		signal.EncodeTo(c, binary.LittleEndian)
		for _, m := range reqs {
			p, _ := m.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
			member, _ := m.Headers[dbus.FieldMember].Value().(string)
			props, found := units[string(p)]
			var reply *dbus.Message
			if found && member == "GetAll" && len(m.Body) == 1 && m.Body[0] == "org.freedesktop.systemd1.Unit" {
				reply = &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
					dbus.FieldReplySerial: dbus.MakeVariant(m.Serial()),
					dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf(props)),
				}, Body: []any{props}}
			} else {
				reply = &dbus.Message{Type: dbus.TypeError, Headers: map[dbus.HeaderField]dbus.Variant{
					dbus.FieldReplySerial: dbus.MakeVariant(m.Serial()),
					dbus.FieldErrorName:   dbus.MakeVariant("org.freedesktop.DBus.Error.UnknownObject"),
					dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf("")),
				}, Body: []any{"Unknown object " + string(p)}}
			}
			if reply.EncodeTo(c, binary.LittleEndian) != nil {
				return
			}
		}
		asked <- paths
	}()
	return asked
}

// The D-Bus path answers what systemd gives plainly, in systemctl show's
// order, in one pipelined round; systemctl runs once, for the rest only.
func TestAnswerUnitsOverDBus(t *testing.T) {
	if !dbusUsable() {
		t.Skip("D-Bus path needs root outside a chroot")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fakeShow), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_UNITS", dir)
	old := systemdPrivateSocket
	systemdPrivateSocket = filepath.Join(dir, "private")
	t.Cleanup(func() { systemdPrivateSocket = old })
	asked := fakeSystemd(t, systemdPrivateSocket, map[string]map[string]dbus.Variant{
		"/org/freedesktop/systemd1/unit/nginx_2eservice":   props("loaded", "active", "enabled", false),
		"/org/freedesktop/systemd1/unit/haproxy_2eservice": props("loaded", "inactive", "disabled", true),
		"/org/freedesktop/systemd1/unit/nosuch_2eservice":  props("not-found", "inactive", "", false),
		"/org/freedesktop/systemd1/unit/odd_2eservice":     props("loaded", "active\nx", "enabled", false),
	}, 5)
	// Left to systemctl: weird (a D-Bus error), odd (an odd value), a@b@c (a name).
	for n, part := range map[string]string{
		"weird": probe("loaded", "no", "active", "static"),
		"odd":   probe("loaded", "no", "active", "enabled"),
		"a@b@c": probe("not-found", "no", "inactive", ""),
	} {
		os.WriteFile(filepath.Join(dir, n), []byte(part), 0o644)
	}
	names := []string{"nginx", "haproxy.service", "nosuch", "weird", "odd", "a@b@c", "nginx"}
	var queries [][]byte
	for _, n := range names {
		raw, _ := json.Marshal(unitQuery{Name: n})
		queries = append(queries, raw)
	}
	got := AnswerUnits(queries)
	want := map[string]string{
		"nginx":           "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\n",
		"haproxy.service": "LoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\nNeedDaemonReload=yes\n",
		"weird":           probe("loaded", "no", "active", "static"),
		"odd":             probe("loaded", "no", "active", "enabled"),
	}
	for i, n := range names {
		w, answered := want[n]
		if got[i].OK != answered || string(got[i].Stdout) != w {
			t.Errorf("%s: got %v %q, want %v %q", n, got[i].OK, got[i].Stdout, answered, w)
		}
	}
	paths := <-asked
	if len(paths) != 5 {
		t.Errorf("systemd asked for %d units, want 5 in one round: %q", len(paths), paths)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	if string(calls) != "show "+strings.Join(unitProps, " ")+" weird odd a@b@c\n" {
		t.Errorf("systemctl calls:\n%s", calls)
	}
}

// A systemd that does not answer is given up at the deadline, for systemctl.
func TestShowOverDBusDeadline(t *testing.T) {
	if !dbusUsable() {
		t.Skip("D-Bus path needs root outside a chroot")
	}
	old, oldTimeout := systemdPrivateSocket, dbusTimeout
	systemdPrivateSocket, dbusTimeout = filepath.Join(t.TempDir(), "private"), 300*time.Millisecond
	t.Cleanup(func() { systemdPrivateSocket, dbusTimeout = old, oldTimeout })
	fakeSystemd(t, systemdPrivateSocket, nil, 3) // waits for 3 requests: gets 2
	start := time.Now()
	for i, s := range showOverDBus([]string{"ssh", "cron"}) {
		if s.known {
			t.Errorf("unit %d answered", i)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

// With no socket, D-Bus answers nothing and costs nothing.
func TestShowOverDBusWithoutSocket(t *testing.T) {
	noDBus(t)
	for i, s := range showOverDBus([]string{"ssh", "nosuch"}) {
		if s.known {
			t.Errorf("unit %d answered without a socket", i)
		}
	}
}

// realUnits are the units the real-systemd check always covers; it adds
// every unit the host lists.
var realUnits = []string{"ssh", "sshd", "ssh.socket", "nosuch", "nosuch.socket", "foo.bar", "systemd-journald",
	"systemd-journald.socket", "dbus", "dbus.socket", "multi-user.target", "sockets.target", "getty@tty1",
	"getty@.service", "systemd-tmpfiles-clean.timer", "-.mount", "tmp.mount", "init.scope", "system.slice"}

// On a real systemd host (SKIFF_REAL_SYSTEMD=1, as root), every unit's
// D-Bus answer is byte for byte the stdout of its own systemctl show, and
// exactly the units with an empty or "generated" UnitFileState are
// declined. SKIFF_UNITS adds units (space separated).
func TestRealSystemdEquivalence(t *testing.T) {
	if os.Getenv("SKIFF_REAL_SYSTEMD") != "1" {
		t.Skip("set SKIFF_REAL_SYSTEMD=1 on a systemd host")
	}
	units := append(append([]string{}, realUnits...), strings.Fields(os.Getenv("SKIFF_UNITS"))...)
	named := len(units)
	seen := map[string]bool{}
	for _, u := range units {
		seen[u] = true
	}
	for _, args := range [][]string{{"list-units", "--all", "--plain", "--no-legend", "--no-pager"}, {"list-unit-files", "--no-legend", "--no-pager"}} {
		out, err := exec.Command("systemctl", args...).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && !seen[f[0]] {
				seen[f[0]] = true
				units = append(units, f[0])
			}
		}
	}
	start := time.Now()
	byBus := showOverDBus(units)
	t.Logf("D-Bus: %d units in %v", len(units), time.Since(start))
	var answered, declined, left, failed int
	for i, u := range units {
		raw, err := exec.Command("systemctl", append(append([]string{"show"}, unitProps...), u)...).Output()
		if err != nil {
			// Templates, "-.slice" (an option to systemctl): not answered.
			failed++
			if byBus[i].known {
				t.Errorf("%s: answered over D-Bus, but systemctl show fails: %v", u, err)
			}
			t.Logf("%s: systemctl show fails (%v), D-Bus leaves it to systemctl", u, err)
			continue
		}
		// The fragment prints "$(systemctl show …)" and a newline.
		want := strings.TrimRight(string(raw), "\n") + "\n"
		needsIsEnabled := strings.Contains("\n"+want, "\nUnitFileState=\n") || strings.Contains("\n"+want, "\nUnitFileState=generated\n")
		_, simple := showName(u)
		s := byBus[i]
		switch {
		case !s.known:
			left++
			t.Logf("%s: left to systemctl", u)
			if simple {
				t.Errorf("%s: D-Bus gave no answer for a simple name; systemctl says:\n%s", u, want)
			}
		case s.stdout == nil:
			declined++
			if !needsIsEnabled {
				t.Errorf("%s: declined, but systemctl says:\n%s", u, want)
			}
		default:
			answered++
			if needsIsEnabled || string(s.stdout) != want {
				t.Errorf("%s: D-Bus and systemctl differ:\n--- systemctl\n%s--- D-Bus\n%s", u, want, s.stdout)
			}
		}
		if i < named {
			// Alone, a unit is answered the same (one request per connection).
			if one := showOverDBus([]string{u})[0]; one.known != s.known || !bytes.Equal(one.stdout, s.stdout) {
				t.Errorf("%s: alone %v %q, in the batch %v %q", u, one.known, one.stdout, s.known, s.stdout)
			}
			verdict := "answered"
			if !s.known {
				verdict = "left to systemctl"
			} else if s.stdout == nil {
				verdict = "declined (is-enabled)"
			}
			t.Logf("%s: %s\n%s", u, verdict, want)
		}
	}
	t.Logf("%d units: %d answered over D-Bus (equal), %d declined (empty/generated), %d left to systemctl, %d where systemctl show fails",
		len(units), answered, declined, left, failed)

	// End to end: AnswerUnits against the fragment itself, run by sh.
	var queries [][]byte
	for _, u := range units[:named] {
		raw, _ := json.Marshal(unitQuery{Name: u})
		queries = append(queries, raw)
	}
	for i, a := range AnswerUnits(queries) {
		if !a.OK {
			continue
		}
		s := &Service{name: units[i]}
		cmd := exec.Command("/bin/sh")
		cmd.Stdin = strings.NewReader("(\n" + s.Probe() + "\n)\n")
		want, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Stdout, want) {
			t.Errorf("%s: AnswerUnits differs from the fragment:\n--- fragment\n%s--- native\n%s", units[i], want, a.Stdout)
		}
	}
}

// cpuNow is the CPU time used so far by this process, its waited-for
// children and PID 1 (systemd, which answers both paths), in ns.
func cpuNow(t *testing.T) (self, children, pid1 int64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = ru.Utime.Nano() + ru.Stime.Nano()
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	children = ru.Utime.Nano() + ru.Stime.Nano()
	b, err := os.ReadFile("/proc/1/schedstat")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Sscan(string(b), &pid1)
	return
}

// The host CPU of 20 AnswerUnits calls for 4 units, over D-Bus and by the
// systemctl exec (SKIFF_REAL_SYSTEMD=1; SKIFF_CPU_PATH=dbus or exec for
// one path only).
func TestRealSystemdCPU(t *testing.T) {
	if os.Getenv("SKIFF_REAL_SYSTEMD") != "1" {
		t.Skip("set SKIFF_REAL_SYSTEMD=1 on a systemd host")
	}
	var queries [][]byte
	for _, u := range []string{"ssh", "systemd-journald", "dbus", "multi-user.target"} {
		raw, _ := json.Marshal(unitQuery{Name: u})
		queries = append(queries, raw)
	}
	const rounds = 20
	for _, path := range []string{"dbus", "exec"} {
		if p := os.Getenv("SKIFF_CPU_PATH"); p != "" && p != path {
			continue
		}
		if path == "exec" {
			noDBus(t)
		}
		first := AnswerUnits(queries) // warm up (and a check that the path works)
		if path == "dbus" && !showOverDBus([]string{"ssh"})[0].known {
			t.Fatal("D-Bus path not working here")
		}
		s0, c0, p0 := cpuNow(t)
		w0 := time.Now()
		for range rounds {
			got := AnswerUnits(queries)
			for i := range got {
				if got[i].OK != first[i].OK || !bytes.Equal(got[i].Stdout, first[i].Stdout) {
					t.Errorf("%s: answer %d changed", path, i)
				}
			}
		}
		wall := time.Since(w0)
		s1, c1, p1 := cpuNow(t)
		total := (s1 - s0) + (c1 - c0) + (p1 - p0)
		t.Logf("%s: %d×AnswerUnits(4 units): host CPU %.2f ms (%.3f ms/call): helper %.2f ms, systemctl children %.2f ms, systemd (PID 1) %.2f ms; wall %v",
			path, rounds, float64(total)/1e6, float64(total)/1e6/rounds, float64(s1-s0)/1e6, float64(c1-c0)/1e6, float64(p1-p0)/1e6, wall)
	}
}
