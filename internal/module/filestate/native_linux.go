package filestate

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/nssfiles"
)

// AnswerFiles is the helper's answerer for NativeFile.
func AnswerFiles(queries [][]byte) []module.NativeAnswer {
	names := loadNames()
	out := make([]module.NativeAnswer, len(queries))
	for i, raw := range queries {
		var q FileQuery
		if json.Unmarshal(raw, &q) != nil || q.Path == "" {
			continue
		}
		out[i] = answerFile(q, names)
	}
	return out
}

// AnswerStats is the helper's answerer for NativeStat.
func AnswerStats(queries [][]byte) []module.NativeAnswer {
	names := loadNames()
	out := make([]module.NativeAnswer, len(queries))
	for i, raw := range queries {
		var q StatQuery
		if json.Unmarshal(raw, &q) != nil || q.Path == "" {
			continue
		}
		var b bytes.Buffer
		if _, _, ok := statNative(&b, q.Path, q.Follow, false, names); ok {
			out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: b.Bytes()}, OK: true}
		}
	}
	return out
}

// statNative prints statScript's lines for p. It returns the path's type,
// its stat (nil when absent or unreadable) and false where it declines.
func statNative(b *bytes.Buffer, p string, follow, key bool, names *idNames) (string, *syscall.Stat_t, bool) {
	var st syscall.Stat_t
	var err error
	if follow {
		err = syscall.Stat(p, &st)
	} else {
		err = syscall.Lstat(p, &st)
	}
	t := Absent
	if err == nil {
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			t = Symlink
		case syscall.S_IFREG:
			t = Regular
		case syscall.S_IFDIR:
			t = Directory
		default:
			t = Other
		}
	}
	fmt.Fprintf(b, "type=%s\n", t)
	if fi, err := os.Stat(path.Dir(p)); err == nil && fi.IsDir() {
		b.WriteString("parent=1\n")
	} else {
		b.WriteString("parent=0\n")
	}
	if t == Absent {
		return t, nil, true
	}
	user, okU := names.user(st.Uid)
	group, okG := names.group(st.Gid)
	if !okU || !okG {
		return t, nil, false
	}
	fmt.Fprintf(b, "stat=%s %d %d %s %s %d\n", strconv.FormatUint(uint64(st.Mode&0o7777), 8), st.Uid, st.Gid, user, group, st.Size)
	if t == Symlink {
		target, _ := os.Readlink(p)
		fmt.Fprintf(b, "link=%s\n", strings.TrimRight(target, "\n"))
	}
	return t, &st, true
}

// answerFile is File.Probe's output for q.
func answerFile(q FileQuery, names *idNames) module.NativeAnswer {
	var b bytes.Buffer
	t, st, ok := statNative(&b, q.Path, false, true, names)
	if !ok {
		return module.NativeAnswer{}
	}
	fmt.Fprintf(&b, "stale_tmp=%d\n", staleTemps(q.Path))
	if !q.Absent && t == Regular && st != nil {
		f := &File{Spec: Spec{Path: q.Path, DigestDir: q.DigestDir}}
		if s := f.nativeDigest(st); s != "" {
			fmt.Fprintf(&b, "sha256=%s\n", s)
			if q.Want != "" && s != q.Want && st.Size <= MaxDiffSize {
				b.WriteString(contentMarker + "\n")
				if content, err := os.ReadFile(q.Path); err == nil {
					writeBase64(&b, content)
				}
			}
		}
	}
	return module.NativeAnswer{Probed: module.Probed{Stdout: b.Bytes()}, OK: true}
}

// staleTemps counts, as the fragment's glob does, the entries of any type
// named like TempPath's beside p (a killed placement leaves a folder).
func staleTemps(p string) int {
	prefix := ".skiff-" + path.Base(p) + "."
	entries, err := os.ReadDir(path.Dir(p))
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if len(name) < len(prefix)+len(".tmp") || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".tmp") {
			continue
		}
		n++
	}
	return n
}

// nativeDigest is digestScript in-process: the sha256 of the regular file
// f.Path whose stat is st, from its record when the key matches, else by
// reading it (and recording it when old enough); "" when unreadable.
func (f *File) nativeDigest(st *syscall.Stat_t) string {
	key := module.StatKey(st)
	rec := f.recordPath()
	if data, err := os.ReadFile(rec); err == nil {
		// As read(1) splits the first line, which must be complete.
		line, _, complete := strings.Cut(string(data), "\n")
		line = strings.Trim(line, " \t")
		rk, rs := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			rk, rs = line[:i], strings.Trim(line[i:], " \t")
		}
		if complete && rk == key && len(rs) == 64 && strings.Trim(rs, "0123456789abcdef") == "" {
			return rs
		}
	}
	file, err := os.Open(f.Path)
	if err != nil {
		return ""
	}
	h := sha256.New()
	_, err = io.Copy(h, file)
	file.Close()
	if err != nil {
		return ""
	}
	s := hex.EncodeToString(h.Sum(nil))
	if st.Ctim.Sec <= time.Now().Unix()-2 {
		dir := f.digestDir()
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() || os.Mkdir(dir, 0o700) == nil {
			tmp := fmt.Sprintf("%s.%d", rec, os.Getpid())
			if os.WriteFile(tmp, []byte(key+" "+s+"\n"), 0o600) == nil {
				if os.Rename(tmp, rec) != nil {
					os.Remove(tmp)
				}
			}
		}
	}
	return s
}

// writeBase64 writes content as base64(1) does: lines of 76 characters.
func writeBase64(b *bytes.Buffer, content []byte) {
	enc := base64.StdEncoding.EncodeToString(content)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteByte('\n')
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc)
		b.WriteByte('\n')
	}
}

// idNames are the user and group names stat(1) prints, by id, where
// nssfiles is sure of them.
type idNames struct {
	db nssfiles.DB
}

func loadNames() *idNames { return &idNames{nssfiles.Load("")} }

// user and group name an id as stat's %U and %G would; ok is false where
// the files do not (another name service may).
func (n *idNames) user(uid uint32) (string, bool) {
	if !n.db.OK() {
		return "", false
	}
	e, ok := n.db.UserByID(strconv.FormatUint(uint64(uid), 10))
	if !ok {
		return "", false
	}
	return e[0], true
}

func (n *idNames) group(gid uint32) (string, bool) {
	if !n.db.OK() {
		return "", false
	}
	e, ok := n.db.GroupByID(strconv.FormatUint(uint64(gid), 10))
	if !ok {
		return "", false
	}
	return e[0], true
}
