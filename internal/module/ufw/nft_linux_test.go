package ufw

import (
	"encoding/binary"
	"syscall"
	"testing"
)

// reply is one netlink message of the kernel's answer to getChainRequest.
func reply(typ uint16, errno int32) []byte {
	var b []byte
	size := syscall.NLMSG_HDRLEN
	if typ == syscall.NLMSG_ERROR {
		size += 4
	}
	b = binary.NativeEndian.AppendUint32(b, uint32(size))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, 0)
	b = binary.NativeEndian.AppendUint32(b, getChainSeq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	if typ == syscall.NLMSG_ERROR {
		b = binary.NativeEndian.AppendUint32(b, uint32(errno))
	}
	return b
}

// The chain and its acknowledgement: loaded; ENOENT (no such chain or
// table): not loaded, as iptables' exit 1; any other error, or a
// malformed message: unknown, and iptables runs.
func TestReadRepliesAsIptablesWould(t *testing.T) {
	chain := reply(nfnlSubsysNFTables<<8|nftMsgNewChain, 0)
	overlong := reply(syscall.NLMSG_ERROR, 0)
	binary.NativeEndian.PutUint32(overlong[0:4], 99)
	for _, tc := range []struct {
		name                string
		b                   []byte
		done, found, wantOK bool
	}{
		{"chain then ack", append(append([]byte{}, chain...), reply(syscall.NLMSG_ERROR, 0)...), true, true, true},
		{"chain, ack to come", chain, false, true, true},
		{"no such chain", reply(syscall.NLMSG_ERROR, -int32(syscall.ENOENT)), true, false, true},
		{"not permitted", reply(syscall.NLMSG_ERROR, -int32(syscall.EPERM)), false, false, false},
		{"longer than what came", overlong, false, false, false},
	} {
		done, found, ok := readReplies(tc.b)
		if done != tc.done || found != tc.found || ok != tc.wantOK {
			t.Errorf("%s: done %v found %v ok %v, want %v %v %v", tc.name, done, found, ok, tc.done, tc.found, tc.wantOK)
		}
	}
}
