package filestate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// DefaultDigestDir holds, on each host, the sha256 last computed for a
// managed regular file, so that a probe does not read a large file again
// while it is unchanged. It is beside the deploy lock, in skiff's
// root-only folder; the probe creates it only where that folder exists.
const DefaultDigestDir = "/var/lib/skiff/digests"

// A digest record is one line, "KEY SHA256", in DigestDir/NAME where NAME
// comes from the file's path. KEY is the file's device, inode, size and
// modification and status-change times to the nanosecond (stat
// %d:%i:%s:%.9Y:%.9Z). Any write, rename over, truncation or chmod of the
// file moves its status-change time, which no program can set back, so a
// record whose key still matches is the digest of the content on disk.
//
// Timestamps are taken from a clock that ticks only every few
// milliseconds, so a write in the same tick as the one before leaves the
// key unchanged. A digest is therefore recorded only when the file's
// status-change time is at least two seconds older than the host's clock
// when the probe read it: a write after that read has a later time.
//
// A host whose stat prints no such key (no nanosecond precision) simply
// hashes every time. The record is a cache, never the truth: a missing,
// torn or foreign record only costs a hash.

// statKeyFormat is the part of stat's -c format that prints KEY.
const statKeyFormat = "%d:%i:%s:%.9Y:%.9Z"

// keyPattern is a sh case pattern that a well-formed KEY matches: both
// times with nine decimals.
const keyPattern = "*:*:*:*[0-9].[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]:*[0-9].[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]"

// digestDir is where f's digest record is kept.
func (f *File) digestDir() string {
	if f.DigestDir != "" {
		return f.DigestDir
	}
	return DefaultDigestDir
}

// recordPath is f's digest record.
func (f *File) recordPath() string {
	sum := sha256.Sum256([]byte(f.Path))
	return path.Join(f.digestDir(), hex.EncodeToString(sum[:16]))
}

// digestScript returns sh lines that, for the regular file "$p" whose KEY
// StatScript left in $k, set s to its sha256 (empty when it cannot be
// read) and print "sha256=…": from the digest record when its key matches,
// otherwise by hashing the file, then recording the digest if the file is
// old enough (see above). Only the slow path starts programs.
func (f *File) digestScript() string {
	rec := shell.Quote(f.recordPath())
	var b strings.Builder
	fmt.Fprintf(&b, "s=; r=%s\n", rec)
	fmt.Fprintf(&b, "case \"$k\" in %s) ;; *) k= ;; esac\n", keyPattern)
	b.WriteString("if [ -n \"$k\" ] && { read -r rk rs <\"$r\"; } 2>/dev/null && [ \"$rk\" = \"$k\" ] && [ ${#rs} = 64 ]; then\n")
	b.WriteString("  case \"$rs\" in *[!0-9a-f]*) ;; *) s=$rs ;; esac\n")
	b.WriteString("fi\n")
	b.WriteString("if [ -z \"$s\" ]; then\n")
	b.WriteString("  s=$(sha256sum <\"$p\" 2>/dev/null) && s=${s%% *}\n")
	b.WriteString("  c=${k##*:}; c=${c%%.*}\n")
	fmt.Fprintf(&b, "  if [ -n \"$s\" ] && [ -n \"$k\" ] && [ \"$c\" -le $(($(date +%%s) - 2)) ] 2>/dev/null && { [ -d %s ] || mkdir -m 700 %s; } 2>/dev/null; then\n",
		shell.Quote(f.digestDir()), shell.Quote(f.digestDir()))
	b.WriteString("    { umask 077; printf '%s %s\\n' \"$k\" \"$s\" >\"$r.$$\" && mv -f \"$r.$$\" \"$r\"; } 2>/dev/null || rm -f \"$r.$$\" 2>/dev/null\n")
	b.WriteString("  fi\n")
	b.WriteString("fi\n")
	b.WriteString("[ -n \"$s\" ] && printf '%s\\n' \"sha256=$s\"\n")
	return b.String()
}
