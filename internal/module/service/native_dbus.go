package service

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// The helper asks systemd over D-Bus what `systemctl show -p LoadState -p
// NeedDaemonReload -p ActiveState -p UnitFileState UNIT` would print: the
// systemctl exec (process start, libsystemd-shared) is most of the host
// CPU of the service probe; without it a batch costs about a third.
//
// It does what systemctl does as root: it connects to systemd's private
// peer-to-peer socket (no bus daemon, no Hello, EXTERNAL auth), calls
// Properties.GetAll on each unit's object (one snapshot per unit, as
// systemctl's GetAll), and prints the four properties as systemctl does.
// Whatever it is not sure to print identically is left to the systemctl
// exec, never answered otherwise: not root, no socket, a chroot or
// SYSTEMD_OFFLINE (systemctl show then prints nothing), any D-Bus error or
// the deadline, a name systemctl would mangle other than the simple way,
// a value other than a plain word.

// systemdPrivateSocket is systemd's private socket, the one systemctl uses
// as root. Tests point it elsewhere to force the exec path.
var systemdPrivateSocket = "/run/systemd/private"

// dbusTimeout bounds the whole exchange: connect, auth and every call.
var dbusTimeout = 2 * time.Second

// unitTypes are the unit name suffixes systemd knows.
var unitTypes = map[string]bool{
	"service": true, "socket": true, "target": true, "timer": true, "mount": true, "path": true,
	"slice": true, "scope": true, "device": true, "swap": true, "automount": true,
}

// showName is the unit systemctl show asks systemd about for name, for
// the simple names only: a name with a unit type suffix stays as it is,
// another gets ".service" appended (so "foo.bar" is "foo.bar.service"),
// as systemd's unit_name_mangle_with_suffix does. ok is false for every
// name systemctl would treat otherwise or reject: globs, paths, escapes,
// templates ("foo@.service"), odd characters, over-long names.
func showName(name string) (unit string, ok bool) {
	if name == "" || len(name) > 200 || name[0] == '.' || name[0] == '-' || name[0] == '@' || name[len(name)-1] == '.' {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '_' || c == '.' || c == '-' || c == '@') {
			return "", false
		}
	}
	unit = name
	if dot := strings.LastIndexByte(name, '.'); dot < 0 || !unitTypes[name[dot+1:]] {
		unit += ".service"
	}
	if at := strings.IndexByte(unit, '@'); at >= 0 {
		// An instance "prefix@instance.type" only; one "@", both parts set.
		dot := strings.LastIndexByte(unit, '.')
		if strings.Count(unit, "@") != 1 || at+1 >= dot {
			return "", false
		}
	}
	return unit, true
}

// busLabel is systemd's bus_label_escape: every byte other than a letter,
// or a digit not in first place, becomes "_" and two lowercase hex digits;
// "" is "_".
func busLabel(s string) string {
	if s == "" {
		return "_"
	}
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

// unitPath is the object path of unit in systemd.
func unitPath(unit string) dbus.ObjectPath {
	return dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + busLabel(unit))
}

// shown is what D-Bus says of one unit. known false: ask systemctl.
// known with nil stdout: decline (UnitFileState empty or generated).
type shown struct {
	known  bool
	stdout []byte
}

// dbusUsable tells whether systemctl, run now, would ask systemd over its
// private socket: as root, and not offline or in a chroot, where its show
// prints nothing. Like systemctl, it takes a root it cannot compare with
// PID 1's for no chroot.
func dbusUsable() bool {
	if os.Geteuid() != 0 || os.Getenv("SYSTEMD_OFFLINE") != "" {
		return false
	}
	root, err1 := os.Stat("/")
	pid1, err2 := os.Stat("/proc/1/root")
	return err1 != nil || err2 != nil || os.SameFile(root, pid1)
}

// showOverDBus asks systemd for each unit's properties in one round of
// socket I/O: the auth lines, then every request in one write, then the
// replies. It speaks the protocol on the socket itself, with godbus's
// message codec only, and does the auth as sd-bus clients (systemctl) do:
// "AUTH EXTERNAL uid" and "BEGIN" in one write, requests only once "OK" is
// read. (godbus's Conn.Auth sends BEGIN and then at once the first
// request; systemd can read both in one go at the end of its auth phase
// and then leave the request unread until more data comes: the call hangs.)
func showOverDBus(units []string) []shown {
	res := make([]shown, len(units))
	var reqs bytes.Buffer
	serials := map[uint32]int{}
	for i, u := range units {
		name, ok := showName(u)
		if !ok {
			continue
		}
		serial := uint32(len(serials) + 1)
		if appendGetAll(&reqs, unitPath(name), serial) != nil {
			return res
		}
		serials[serial] = i
	}
	if len(serials) == 0 || !dbusUsable() {
		return res
	}
	sock, err := net.DialTimeout("unix", systemdPrivateSocket, dbusTimeout)
	if err != nil {
		return res
	}
	defer sock.Close()
	if sock.SetDeadline(time.Now().Add(dbusTimeout)) != nil {
		return res
	}
	uid := hex.EncodeToString([]byte(strconv.Itoa(os.Geteuid())))
	if _, err := io.WriteString(sock, "\x00AUTH EXTERNAL "+uid+"\r\nBEGIN\r\n"); err != nil {
		return res
	}
	in := bufio.NewReaderSize(sock, 32<<10)
	if line, err := in.ReadString('\n'); err != nil || !strings.HasPrefix(line, "OK ") {
		return res
	}
	if _, err := sock.Write(reqs.Bytes()); err != nil {
		return res
	}
	got := make([]shown, len(units))
	for left := len(serials); left > 0; {
		msg, err := dbus.DecodeMessage(in)
		if err != nil {
			return res // deadline, closed, garbled: all to systemctl
		}
		if msg.Type != dbus.TypeMethodReply && msg.Type != dbus.TypeError {
			continue // a signal (systemd sends UnitNew and the like to all)
		}
		serial, _ := msg.Headers[dbus.FieldReplySerial].Value().(uint32)
		i, ok := serials[serial]
		if !ok {
			continue
		}
		delete(serials, serial)
		left--
		if msg.Type == dbus.TypeMethodReply && len(msg.Body) == 1 {
			if props, ok := msg.Body[0].(map[string]dbus.Variant); ok {
				got[i] = renderShow(props)
			}
		}
	}
	return got
}

// appendGetAll appends to b the call Properties.GetAll("…systemd1.Unit")
// on path, with the given serial.
func appendGetAll(b *bytes.Buffer, path dbus.ObjectPath, serial uint32) error {
	msg := &dbus.Message{
		Type: dbus.TypeMethodCall,
		Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldDestination: dbus.MakeVariant("org.freedesktop.systemd1"),
			dbus.FieldPath:        dbus.MakeVariant(path),
			dbus.FieldInterface:   dbus.MakeVariant("org.freedesktop.DBus.Properties"),
			dbus.FieldMember:      dbus.MakeVariant("GetAll"),
			dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf("")),
		},
		Body: []any{"org.freedesktop.systemd1.Unit"},
	}
	start := b.Len()
	if err := msg.EncodeTo(b, binary.LittleEndian); err != nil {
		return err
	}
	// godbus leaves the serial (bytes 8-11 of the fixed header) to its
	// Conn, unused here.
	binary.LittleEndian.PutUint32(b.Bytes()[start+8:start+12], serial)
	return nil
}

// renderShow prints the properties as systemctl show prints them with
// those four -p: in the order of systemd's Unit vtable, which GetAll and
// so systemctl follow, not the order of the -p (LoadState, ActiveState,
// UnitFileState, NeedDaemonReload: so in systemd's sources from about
// v228 to v256 and later, and seen on v252), strings raw, the boolean as
// yes or no. Values other than plain words are left to systemctl (it
// prints "[unprintable]" for some).
func renderShow(props map[string]dbus.Variant) shown {
	var b strings.Builder
	for _, p := range []string{"LoadState", "ActiveState", "UnitFileState"} {
		v, ok := props[p].Value().(string)
		if !ok || !plainWord(v) {
			return shown{}
		}
		if p == "UnitFileState" && (v == "" || v == "generated") {
			return shown{known: true} // the fragment asks is-enabled
		}
		b.WriteString(p + "=" + v + "\n")
	}
	reload, ok := props["NeedDaemonReload"].Value().(bool)
	if !ok {
		return shown{}
	}
	if reload {
		b.WriteString("NeedDaemonReload=yes\n")
	} else {
		b.WriteString("NeedDaemonReload=no\n")
	}
	return shown{known: true, stdout: []byte(b.String())}
}

// plainWord: letters, digits, "-", "_", "." only (all systemd's states).
func plainWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
