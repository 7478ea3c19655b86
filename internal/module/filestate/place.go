package filestate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// Files reach their place on a host in two steps, so that a local user who
// can write the directory a managed file sits in (a deploy user's ~/.ssh,
// an app's data folder), or any folder above it, can never make skiff
// change another file:
//
//  1. The content is uploaded over SFTP to a fresh file (mode 0600 before
//     any byte) in StagingDir, which only root can enter.
//  2. One script then enters the target's directory by one path component
//     at a time (EnterScript), makes a private folder there (root, 0700),
//     moves the content into it and sets its owner and mode there, where
//     nobody else can reach it, validates it, and renames it over the
//     target. rename(2) replaces a symlink planted at the target instead of
//     following it, and the private folder cannot be moved out of the
//     directory by anyone but root, so its ".." is the target's directory.
//
// Nothing in either step acts on a path where another user could have
// swapped a file for a symlink in between.

// StagingDir is the root-only folder on each host where uploads wait for
// their place. Tests point it elsewhere.
var StagingDir = "/var/lib/skiff/staging"

// staleStagedMinutes is how long an upload may wait in StagingDir before a later
// placement removes it as left over from a killed run.
const staleStagedMinutes = 60

// EnterScript defines the sh function skiff_enter DIR: it changes into the
// absolute directory DIR one component at a time from "/". A component may
// be a symbolic link only when root owns it (as /var/run or /lib are); a
// link any other user owns is refused. Each step checks that the
// directory entered is the very one that was looked at (device and inode),
// so that a component swapped for a link in between is refused, never
// followed. With a second argument "create", missing components are made
// (mode 0755, root's) on the way. It prints why it failed on stderr and
// returns non-zero.
const EnterScript = `skiff_enter() {
  cd / || return 1
  _skiff_dir=$1 _skiff_create=$2 _skiff_rest=${1#/}
  while [ -n "$_skiff_rest" ]; do
    _skiff_c=${_skiff_rest%%/*}
    case $_skiff_rest in */*) _skiff_rest=${_skiff_rest#*/} ;; *) _skiff_rest= ;; esac
    case $_skiff_c in ''|.) continue ;; ..) printf '%s\n' "skiff: $_skiff_dir: '..' in the path" >&2; return 1 ;; esac
    if [ -L "$_skiff_c" ]; then
      _skiff_u=$(stat -c %u -- "$_skiff_c") || return 1
      if [ "$_skiff_u" != 0 ]; then
        printf '%s\n' "skiff: $(pwd -P)/$_skiff_c is a symbolic link owned by uid $_skiff_u, not root: not followed (in $_skiff_dir)" >&2
        return 1
      fi
      _skiff_id=$(stat -L -c %d:%i -- "$_skiff_c") || return 1
    elif [ -e "$_skiff_c" ]; then
      _skiff_id=$(stat -c %d:%i -- "$_skiff_c") || return 1
    elif [ "$_skiff_create" = create ]; then
      (umask 022 && mkdir -- "$_skiff_c") || return 1
      _skiff_id=$(stat -c %d:%i -- "$_skiff_c") || return 1
    else
      printf '%s\n' "skiff: $(pwd -P)/$_skiff_c does not exist (in $_skiff_dir)" >&2
      return 1
    fi
    if ! cd -P -- "$_skiff_c" 2>/dev/null || [ "$(stat -c %d:%i .)" != "$_skiff_id" ]; then
      printf '%s\n' "skiff: $_skiff_dir changed while skiff entered it (at $_skiff_c): refused" >&2
      return 1
    fi
  done
}
`

// exitEnter is what a placing script exits with when skiff_enter refused.
const exitEnter = 96

// PrivateScript makes, in the current directory, the private folder
// ./NAME (0700, the script's user's: root's on a host) and enters it,
// checking that what it entered is such a folder whose parent is the directory it started from. Once
// inside, it sets skiff_private to the folder's name, for the cleanup trap
// (which removes ../NAME only then).
func PrivateScript(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "skiff_p=%s\n", shell.Quote(name))
	b.WriteString("skiff_parent=$(stat -c %d:%i .) && skiff_me=$(id -u) || exit 1\n")
	b.WriteString("(umask 077 && mkdir -- \"./$skiff_p\") || exit 1\n")
	b.WriteString("cd -P -- \"./$skiff_p\" && [ \"$(stat -c '%u %a' .)\" = \"$skiff_me 700\" ] && [ \"$(stat -c %d:%i ..)\" = \"$skiff_parent\" ] || " +
		"{ printf '%s\\n' \"skiff: the private folder $skiff_p changed before skiff entered it: refused\" >&2; exit 1; }\n")
	b.WriteString("skiff_private=$skiff_p\n")
	return b.String()
}

// Placement is what PlaceScript puts where.
type Placement struct {
	Path   string // the target: absolute and clean
	Staged string // the uploaded content, in StagingDir ("" for Copy)
	// Copy, when set, is a root-only file whose copy (cp -a: owner, mode
	// and times kept; a symlink stays a symlink) is placed instead of
	// Staged, which is then ignored.
	Copy string
	Meta Meta // owner and mode for the placed file (Copy keeps its own)
	// Validate is a command with "%s" standing for the file to check
	// (inside the private folder, under the target's own name).
	Validate string
	// Expect, when set, guards an edit computed from the target as it was
	// read: the sha256 the target must still have just before the rename,
	// or ExpectAbsent. When the target no longer matches, nothing is
	// placed and the script exits ExitChanged.
	Expect string
}

// ExpectAbsent is Placement.Expect for a target that must not exist.
const ExpectAbsent = "absent"

// ExitChanged is what PlaceScript exits with when the target no longer is
// what Placement.Expect says.
const ExitChanged = 95

// PlaceScript returns the script that puts p's content at p.Path as the
// package comment describes. It exits exitEnter when the directory cannot
// be entered safely, exitValidate when Validate rejects the content, and
// non-zero on any other failure; the target is then untouched, the staged
// upload removed.
func PlaceScript(p Placement) string {
	dir, base := path.Dir(p.Path), path.Base(p.Path)
	var b strings.Builder
	b.WriteString(EnterScript)
	fmt.Fprintf(&b, "d=%s\nn=%s\n", shell.Quote(dir), shell.Quote(base))
	if p.Copy == "" {
		fmt.Fprintf(&b, "s=%s\n", shell.Quote(p.Staged))
	} else {
		b.WriteString("s=\n")
	}
	b.WriteString("skiff_private=\n")
	b.WriteString("trap '[ -z \"$s\" ] || rm -f -- \"$s\"; [ -z \"$skiff_private\" ] || { cd .. && rm -rf -- \"./$skiff_private\"; }' EXIT\ntrap 'exit 1' HUP INT TERM\n")
	fmt.Fprintf(&b, "skiff_enter \"$d\" || exit %d\n", exitEnter)
	b.WriteString(PrivateScript(path.Base(TempPath(p.Path))))
	if p.Copy == "" {
		b.WriteString("mv -f -- \"$s\" \"./$n\" || exit 1\ns=\nq=\"./$n\"\n")
		b.WriteString(p.Meta.Script("q", false))
	} else {
		fmt.Fprintf(&b, "cp -a -- %s \"./$n\" || exit 1\n", shell.Quote(p.Copy))
	}
	if p.Validate != "" {
		b.WriteString("v=\"$(pwd -P)/$n\"\n")
		v := strings.ReplaceAll(p.Validate, "%s", "\"$v\"")
		// eval: a syntax error in the command fails only the command.
		fmt.Fprintf(&b, "out=$(eval %s 2>&1 </dev/null) || { printf '%%s\\n' \"$out\"; exit %d; }\n", shell.Quote(v), exitValidate)
	}
	b.WriteString(expectScript(p.Expect))
	b.WriteString("mv -f -T -- \"./$n\" \"../$n\" || exit 1\n")
	// The file is in place: a private folder that another user renamed
	// meanwhile is left for the next probe to report, not an error.
	b.WriteString("cd .. && { rmdir -- \"./$skiff_private\" 2>/dev/null; skiff_private=; }\n")
	if p.Copy == "" {
		fmt.Fprintf(&b, "find %s -maxdepth 1 -type f -name '*.upload' -mmin +%d -delete 2>/dev/null\n", shell.Quote(path.Dir(p.Staged)), staleStagedMinutes)
	}
	b.WriteString("exit 0\n")
	return b.String()
}

// expectScript checks, from the private folder, that the target "../$n"
// is as expect says (see Placement.Expect): a regular file (a link is
// never followed) with that sha256, or nothing at all.
func expectScript(expect string) string {
	switch expect {
	case "":
		return ""
	case ExpectAbsent:
		return fmt.Sprintf("if [ -e \"../$n\" ] || [ -L \"../$n\" ]; then printf '%%s\\n' \"skiff: $d/$n appeared since it was read: not replaced\" >&2; exit %d; fi\n", ExitChanged)
	}
	return fmt.Sprintf("cur=; if [ -f \"../$n\" ] && [ ! -L \"../$n\" ]; then cur=$(sha256sum <\"../$n\") && cur=${cur%%%% *}; fi\n"+
		"[ \"$cur\" = %s ] || { printf '%%s\\n' \"skiff: $d/$n changed since it was read: not replaced\" >&2; exit %d; }\n", shell.Quote(expect), ExitChanged)
}

// RemoveScript returns the script that removes the file or symlink at p
// (and, with stale, the temporaries a killed run left beside it) from
// inside its directory, entered as skiff_enter does: a link planted above
// p never leads the removal elsewhere. A missing directory is nothing to
// remove.
func RemoveScript(p string, target, stale bool) string {
	var b strings.Builder
	b.WriteString(EnterScript)
	fmt.Fprintf(&b, "d=%s\nn=%s\n", shell.Quote(path.Dir(p)), shell.Quote(path.Base(p)))
	b.WriteString("[ -d \"$d\" ] || exit 0\n")
	fmt.Fprintf(&b, "skiff_enter \"$d\" || exit %d\n", exitEnter)
	if stale {
		// rm -rf never follows a symlink: a planted one is removed itself.
		b.WriteString("rm -rf -- ./.skiff-\"$n\".*.tmp || exit 1\n")
	}
	if target {
		b.WriteString("if [ -d \"./$n\" ] && [ ! -L \"./$n\" ]; then printf '%s\\n' \"skiff: $d/$n is a directory: not removed\" >&2; exit 1; fi\n")
		b.WriteString("rm -f -- \"./$n\" || exit 1\n")
	}
	return b.String()
}

// StagedPath returns a fresh name in StagingDir for an upload:
// "<random>.upload".
func StagedPath() string {
	var r [8]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return path.Join(StagingDir, hex.EncodeToString(r[:])+".upload")
}

// ExitValidate is what PlaceScript exits with when Placement.Validate
// rejects the content.
const ExitValidate = exitValidate

// Upload writes content to a fresh file in StagingDir for PlaceScript's
// Placement.Staged, as the file kind does (see upload).
func Upload(ctx context.Context, t transport.Transport, content []byte) (string, error) {
	return upload(ctx, t, content)
}
