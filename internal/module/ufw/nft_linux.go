package ufw

import (
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"syscall"
)

// nftChainLoaded answers `iptables -n -L chain` (is ufw's chain loaded?)
// where iptables is the nf_tables one, by asking the kernel over netlink
// for the chain in the IPv4 filter table, as iptables-nft does, without
// starting it. known is false when it cannot tell (another iptables, no
// netlink, no permission, an odd reply): iptables then runs.
func nftChainLoaded(chain string) (loaded, known bool) {
	path, err := exec.LookPath("iptables")
	if err != nil {
		return false, false
	}
	if real, err := filepath.EvalSymlinks(path); err != nil || filepath.Base(real) != "xtables-nft-multi" {
		return false, false
	}
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_NETFILTER)
	if err != nil {
		return false, false
	}
	defer func() { _ = syscall.Close(fd) }() // only read from
	tv := syscall.Timeval{Sec: 2}
	if syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv) != nil {
		return false, false
	}
	kernel := &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}
	if syscall.Sendto(fd, getChainRequest("filter", chain), 0, kernel) != nil {
		return false, false
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil || n < syscall.NLMSG_HDRLEN {
			return false, false
		}
		done, found, ok := readReplies(buf[:n])
		if !ok {
			return false, false
		}
		if found {
			loaded = true
		}
		if done {
			return loaded, true
		}
	}
}

// nf_tables over netlink (linux/netfilter/nf_tables.h, nfnetlink.h).
const (
	nfnlSubsysNFTables = 10
	nftMsgNewChain     = 3
	nftMsgGetChain     = 4
	nftaChainTable     = 1
	nftaChainName      = 3
	nfprotoIPv4        = 2
	getChainSeq        = 1
)

// getChainRequest is NFT_MSG_GETCHAIN for table's chain in the IPv4
// family, acknowledged.
func getChainRequest(table, chain string) []byte {
	var attrs []byte
	for _, a := range []struct {
		typ uint16
		val string
	}{{nftaChainTable, table}, {nftaChainName, chain}} {
		v := append([]byte(a.val), 0)
		attrs = binary.NativeEndian.AppendUint16(attrs, uint16(4+len(v)))
		attrs = binary.NativeEndian.AppendUint16(attrs, a.typ)
		attrs = append(attrs, v...)
		for len(attrs)%4 != 0 {
			attrs = append(attrs, 0)
		}
	}
	body := append([]byte{nfprotoIPv4, 0, 0, 0}, attrs...) // nfgenmsg: family, version 0, res_id 0
	var msg []byte
	msg = binary.NativeEndian.AppendUint32(msg, uint32(syscall.NLMSG_HDRLEN+len(body)))
	msg = binary.NativeEndian.AppendUint16(msg, nfnlSubsysNFTables<<8|nftMsgGetChain)
	msg = binary.NativeEndian.AppendUint16(msg, syscall.NLM_F_REQUEST|syscall.NLM_F_ACK)
	msg = binary.NativeEndian.AppendUint32(msg, getChainSeq)
	msg = binary.NativeEndian.AppendUint32(msg, 0)
	return append(msg, body...)
}

// readReplies reads the kernel's messages in b: found when one is the
// chain, done at the acknowledgement (or ENOENT: no such chain or table);
// ok is false for any other error or a malformed message.
func readReplies(b []byte) (done, found, ok bool) {
	for len(b) >= syscall.NLMSG_HDRLEN {
		size := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		seq := binary.NativeEndian.Uint32(b[8:12])
		if size < syscall.NLMSG_HDRLEN || size > len(b) {
			return false, false, false
		}
		if seq == getChainSeq {
			switch typ {
			case nfnlSubsysNFTables<<8 | nftMsgNewChain:
				found = true
			case syscall.NLMSG_ERROR:
				if size < syscall.NLMSG_HDRLEN+4 {
					return false, false, false
				}
				switch errno := -int32(binary.NativeEndian.Uint32(b[16:20])); syscall.Errno(errno) {
				case 0:
					return true, found, true
				case syscall.ENOENT:
					return true, false, true
				default:
					return false, false, false
				}
			}
		}
		b = b[min(len(b), (size+3)&^3):]
	}
	return false, found, true
}
