// Package nssfiles reads /etc/passwd and /etc/group as the C library's
// "files" name service does, for the probe helper's user and group
// answers. It answers only where it is sure to say what getent and id
// would: nsswitch.conf asks the files first, no userdb drop-in adds
// memberships, and every line is plainly well formed (no compat "+"/"-"
// entries, no comments, canonical numbers). Otherwise OK is false and
// callers decline.
package nssfiles

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DB is the two files under a root.
type DB struct {
	ok     bool
	passwd [][]string // 7 fields each, in file order
	group  [][]string // 4 fields each, in file order
}

// Load reads root/etc/nsswitch.conf, passwd and group ("" is /).
func Load(root string) DB {
	var d DB
	ns := nsswitch(root)
	if _, ok := ns["initgroups"]; ok || !filesFirst(ns, "passwd") || !filesFirst(ns, "group") {
		return d
	}
	for _, dir := range []string{"/etc/userdb", "/run/userdb"} {
		if _, err := os.Stat(filepath.Join(root, dir)); err == nil {
			return d
		}
	}
	var ok1, ok2 bool
	d.passwd, ok1 = read(filepath.Join(root, "/etc/passwd"), 7, []int{2, 3})
	d.group, ok2 = read(filepath.Join(root, "/etc/group"), 4, []int{2})
	d.ok = ok1 && ok2
	if d.ok {
		for _, g := range d.group {
			if g[3] != "" && (strings.Contains(","+g[3]+",", ",,") || strings.ContainsAny(g[3], " \t")) {
				d.ok = false
			}
		}
	}
	return d
}

// OK reports whether the answers below are what getent and id print.
func (d DB) OK() bool { return d.ok }

// User is the passwd entry named name.
func (d DB) User(name string) ([]string, bool) { return find(d.passwd, 0, name) }

// UserByID is the first passwd entry of uid (decimal), as getpwuid finds.
func (d DB) UserByID(uid string) ([]string, bool) { return find(d.passwd, 2, uid) }

// Group is the group entry named name.
func (d DB) Group(name string) ([]string, bool) { return find(d.group, 0, name) }

// GroupByID is the group entry of gid (decimal).
func (d DB) GroupByID(gid string) ([]string, bool) { return find(d.group, 2, gid) }

// Groups is what getgrouplist gives id -G for user with primary gid: gid
// first, then the gid of every group listing user, in file order; ok is
// false when a gid would come twice (id's own dedup then matters).
func (d DB) Groups(user, gid string) ([]string, bool) {
	out := []string{gid}
	seen := map[string]bool{gid: true}
	for _, g := range d.group {
		if g[2] == gid || g[3] == "" {
			continue
		}
		for _, m := range strings.Split(g[3], ",") {
			if m == user {
				if seen[g[2]] {
					return nil, false
				}
				seen[g[2]] = true
				out = append(out, g[2])
				break
			}
		}
	}
	return out, true
}

// Line is an entry as getent prints it.
func Line(fields []string) string { return strings.Join(fields, ":") }

func find(entries [][]string, field int, key string) ([]string, bool) {
	for _, e := range entries {
		if e[field] == key {
			return e, true
		}
	}
	return nil, false
}

// read splits a passwd(5) or group(5) file; ok is false on any line that
// is not plainly n fields with canonical decimal numbers at nums.
func read(path string, n int, nums []int) ([][]string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return nil, false
	}
	var out [][]string
	if len(data) == 0 {
		return out, true
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		f := strings.Split(line, ":")
		if len(f) != n || f[0] == "" || strings.ContainsAny(f[0][:1], "+-#") || strings.ContainsAny(f[0], " \t") {
			return nil, false
		}
		for _, i := range nums {
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil || strconv.FormatUint(v, 10) != f[i] {
				return nil, false
			}
		}
		out = append(out, f)
	}
	return out, true
}

// filesFirst reports whether nsswitch.conf (ns) asks the files first for
// db (also when it does not say: the C library's default).
func filesFirst(ns map[string]string, db string) bool {
	sources, ok := ns[db]
	if !ok {
		return true
	}
	f := strings.Fields(sources)
	return len(f) > 0 && f[0] == "files"
}

// nsswitch is root's nsswitch.conf: the sources of each database named.
// An initgroups line would change where id looks for memberships.
func nsswitch(root string) map[string]string {
	ns := map[string]string{}
	data, err := os.ReadFile(filepath.Join(root, "/etc/nsswitch.conf"))
	if err != nil {
		return ns
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if name, sources, ok := strings.Cut(line, ":"); ok {
			if n := strings.TrimSpace(name); n != "" {
				if _, seen := ns[n]; !seen {
					ns[n] = sources
				}
			}
		}
	}
	return ns
}
