// Package user is the "user" task kind (getent and id to read; useradd,
// usermod and userdel to change).
//
//	task "user" "app" {
//	  name        = "app"
//	  uid         = 990
//	  group       = "app"              # primary group, name or gid
//	  groups      = ["adm", "docker"]  # supplementary groups: exactly these
//	  home        = "/srv/app"
//	  shell       = "/usr/sbin/nologin"
//	  system      = true               # only used when creating
//	  create_home = true               # only used when creating (default true)
//	  state       = "present"          # or "absent" (the home is kept)
//	}
//
// Arguments left out are not managed. A changed home is recorded, not moved.
//
// Changes can be undone (module.Reversible): before the change, the
// account's passwd line, shadow password hash, primary group line and
// supplementary groups are recorded on the host (root-only: the hash never
// leaves it). Undo deletes a user the change created with plain userdel
// (its home, if useradd made one, is kept, as userdel -r would remove
// files skiff cannot know to be its own); sets uid, primary and
// supplementary groups, home, shell and comment back with usermod; and
// recreates a removed user (useradd -M: the home was kept) with its primary
// group if userdel took that along, and its password hash (chpasswd -e).
// Password ageing fields are not restored.
package user

import (
	"context"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/group"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// User is one "user" task.
type User struct {
	name       string
	uid        int // -1: not managed
	group      string
	groups     []string
	hasGroups  bool
	home       string
	shell      string
	system     bool
	createHome bool
	absent     bool

	script, what string // set by Check
}

var (
	_ module.Module     = (*User)(nil)
	_ module.Reversible = (*User)(nil)
)

// New is the module.Factory of the "user" kind.
func New(a *module.Args) module.Module {
	u := &User{
		name:       a.String("name", true),
		uid:        a.Int("uid", math.MinInt),
		group:      a.String("group", false),
		groups:     a.StringList("groups"),
		hasGroups:  a.Has("groups") && !a.Unknown("groups"),
		home:       a.String("home", false),
		shell:      a.String("shell", false),
		system:     a.Bool("system", false),
		createHome: a.Bool("create_home", true),
		absent:     a.OneOf("state", "present", "present", "absent") == "absent",
	}
	a.RejectSensitive("name", "uid", "group", "groups", "home", "shell")
	if u.name != "" && !group.NameRE.MatchString(u.name) {
		a.Errorf("name", "%q is not a valid user name.", u.name)
		u.name = ""
	}
	if u.uid < 0 && u.uid != math.MinInt {
		a.Errorf("uid", "uid must not be negative.")
	}
	if u.uid < 0 {
		u.uid = -1 // not managed
	}
	if u.group != "" && !group.NameRE.MatchString(u.group) && !isNumber(u.group) {
		a.Errorf("group", "%q is neither a group name nor a gid.", u.group)
	}
	for _, g := range u.groups {
		if !group.NameRE.MatchString(g) {
			a.Errorf("groups", "%q is not a group name (groups takes names, not gids).", g)
		}
	}
	for n, v := range map[string]string{"home": u.home, "shell": u.shell} {
		if strings.ContainsAny(v, ":\n") {
			a.Errorf(n, "%s must not contain \":\" or a newline.", n)
		}
	}
	return u
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// Probe prints "passwd=<getent passwd line>" (empty when the user is
// missing) and, for an existing user, "primary=<primary group name>" and
// "groups=<id -Gn>".
func (u *User) Probe() string {
	if u.name == "" {
		return ""
	}
	return fmt.Sprintf("n=%s\n", shell.Quote(u.name)) +
		`pw=$(getent passwd "$n" 2>/dev/null)
printf '%s\n' "passwd=$pw"
if [ -n "$pw" ]; then
  g=$(printf '%s\n' "$pw" | cut -d: -f4)
  printf '%s\n' "primary=$(getent group "$g" 2>/dev/null | cut -d: -f1)"
  printf '%s\n' "groups=$(id -Gn "$n" 2>/dev/null)"
fi
`
}

// Check compares the account with the wanted one.
func (u *User) Check(p module.Probed) (*module.Change, error) {
	u.script, u.what = "", ""
	f := shell.Fields(p.Stdout)
	pw, ok := f["passwd"]
	if !ok {
		return nil, fmt.Errorf("user probe printed nothing (exit %d)", p.ExitCode)
	}
	q := shell.Quote(u.name)
	if pw == "" {
		if u.absent {
			return nil, nil
		}
		u.script = "useradd" + u.createFlags() + " " + q + "\n"
		u.what = "create user " + u.name
		return &module.Change{Action: plan.Create, Summary: u.what}, nil
	}
	if u.absent {
		u.script, u.what = "userdel "+q+"\n", "remove user "+u.name
		return &module.Change{Action: plan.Delete, Summary: u.what}, nil
	}

	fields := strings.Split(pw, ":")
	if len(fields) < 7 {
		return nil, fmt.Errorf("getent passwd %s printed %q", u.name, pw)
	}
	uid, gid, home, sh := fields[2], fields[3], fields[5], fields[6]
	primary := f["primary"]

	var flags, msgs []string
	if u.uid >= 0 && uid != strconv.Itoa(u.uid) {
		flags = append(flags, "-u", strconv.Itoa(u.uid))
		msgs = append(msgs, fmt.Sprintf("uid %s -> %d", uid, u.uid))
	}
	wantPrimary := primary
	if u.group != "" && u.group != primary && u.group != gid {
		flags = append(flags, "-g", shell.Quote(u.group))
		msgs = append(msgs, fmt.Sprintf("group %s -> %s", primary, u.group))
		wantPrimary = u.group
	}
	if u.hasGroups {
		have := set(strings.Fields(f["groups"]), primary)
		want := set(u.groups, wantPrimary)
		if added, removed := delta(have, want), delta(want, have); len(added)+len(removed) > 0 {
			flags = append(flags, "-G", shell.Quote(strings.Join(sorted(want), ",")))
			var d []string
			for _, g := range added {
				d = append(d, "+"+g)
			}
			for _, g := range removed {
				d = append(d, "-"+g)
			}
			msgs = append(msgs, "groups "+strings.Join(d, " "))
		}
	}
	if u.home != "" && u.home != home {
		flags = append(flags, "-d", shell.Quote(u.home))
		msgs = append(msgs, fmt.Sprintf("home %s -> %s", home, u.home))
	}
	if u.shell != "" && u.shell != sh {
		flags = append(flags, "-s", shell.Quote(u.shell))
		msgs = append(msgs, fmt.Sprintf("shell %s -> %s", sh, u.shell))
	}
	if len(flags) == 0 {
		return nil, nil
	}
	u.script = "usermod " + strings.Join(flags, " ") + " " + q + "\n"
	u.what = "update user " + u.name + ": " + strings.Join(msgs, ", ")
	return &module.Change{Action: plan.Update, Summary: u.what}, nil
}

func (u *User) createFlags() string {
	var b strings.Builder
	if u.uid >= 0 {
		fmt.Fprintf(&b, " -u %d", u.uid)
	}
	if u.group != "" {
		b.WriteString(" -g " + shell.Quote(u.group))
	}
	if len(u.groups) > 0 {
		b.WriteString(" -G " + shell.Quote(strings.Join(u.groups, ",")))
	}
	if u.home != "" {
		b.WriteString(" -d " + shell.Quote(u.home))
	}
	if u.shell != "" {
		b.WriteString(" -s " + shell.Quote(u.shell))
	}
	if u.system {
		b.WriteString(" -r")
	}
	if u.createHome {
		b.WriteString(" -m")
	} else {
		b.WriteString(" -M")
	}
	return b.String()
}

// set returns names as a set without the primary group: supplementary
// groups only.
func set(names []string, primary string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	delete(m, primary)
	return m
}

// delta lists the members of b missing from a, sorted.
func delta(a, b map[string]bool) []string {
	var out []string
	for n := range b {
		if !a[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func sorted(m map[string]bool) []string {
	return delta(nil, m)
}

// Apply runs the useradd, usermod or userdel command Check chose.
func (u *User) Apply(ctx context.Context, t transport.Transport) error {
	if u.script == "" {
		return nil
	}
	return shell.Run(ctx, t, u.what, u.script, nil)
}

// Names of what Reversal keeps in its backup folder.
const (
	backupPasswd  = "passwd"  // the account's getent passwd line
	backupShadow  = "shadow"  // its getent shadow line ("" when unreadable)
	backupPrimary = "primary" // the getent group line of its primary group
	backupGroups  = "groups"  // its supplementary groups, comma-separated
	backupAbsent  = "absent"  // marker: there was no such user
)

// Reversal implements module.Reversible for the command Check chose.
func (u *User) Reversal(dir string) (backup, undo, after string) {
	if u.script == "" {
		return "", "", ""
	}
	f := func(name string) string { return shell.Quote(path.Join(dir, name)) }
	n := shell.Quote(u.name)

	var b strings.Builder
	fmt.Fprintf(&b, "n=%s\n", n)
	b.WriteString("if pw=$(getent passwd \"$n\"); then\n")
	fmt.Fprintf(&b, "  printf '%%s\\n' \"$pw\" > %s || exit 1\n", f(backupPasswd))
	fmt.Fprintf(&b, "  getent shadow \"$n\" > %s || : > %s || exit 1\n", f(backupShadow), f(backupShadow))
	fmt.Fprintf(&b, "  getent group \"$(printf '%%s\\n' \"$pw\" | cut -d: -f4)\" > %s || : > %s || exit 1\n", f(backupPrimary), f(backupPrimary))
	fmt.Fprintf(&b, "  getent group | awk -F: -v u=\"$n\" '{k = split($4, m, \",\"); for (i = 1; i <= k; i++) if (m[i] == u) { print $1; break }}' | paste -sd, - > %s || exit 1\n", f(backupGroups))
	b.WriteString("else\n")
	fmt.Fprintf(&b, "  : > %s || exit 1\n", f(backupAbsent))
	b.WriteString("fi\n")
	backup = b.String()

	b.Reset()
	fmt.Fprintf(&b, "n=%s\n", n)
	fmt.Fprintf(&b, "if [ -f %s ]; then\n", f(backupPasswd))
	fmt.Fprintf(&b, "  IFS=: read -r _ _ uid gid gecos home sh < %s || exit 1\n", f(backupPasswd))
	fmt.Fprintf(&b, "  groups=$(cat %s) || exit 1\n", f(backupGroups))
	// userdel removes a user's private group: recreate it first.
	fmt.Fprintf(&b, "  if ! getent group \"$gid\" >/dev/null && [ -s %s ]; then\n", f(backupPrimary))
	fmt.Fprintf(&b, "    IFS=: read -r gname _ _ _ < %s && groupadd -g \"$gid\" \"$gname\" || exit 1\n", f(backupPrimary))
	b.WriteString("  fi\n")
	b.WriteString("  if getent passwd \"$n\" >/dev/null; then\n")
	b.WriteString("    usermod -u \"$uid\" -g \"$gid\" -G \"$groups\" -d \"$home\" -s \"$sh\" -c \"$gecos\" \"$n\" || exit 1\n")
	b.WriteString("  else\n")
	b.WriteString("    if [ -n \"$groups\" ]; then set -- -G \"$groups\"; else set --; fi\n")
	b.WriteString("    useradd -M -u \"$uid\" -g \"$gid\" \"$@\" -d \"$home\" -s \"$sh\" -c \"$gecos\" \"$n\" || exit 1\n")
	// The hash goes through chpasswd's stdin, never on a command line.
	fmt.Fprintf(&b, "    hash=$(cut -d: -f2 %s)\n", f(backupShadow))
	b.WriteString("    if [ -n \"$hash\" ]; then printf '%s:%s\\n' \"$n\" \"$hash\" | chpasswd -e || exit 1; fi\n")
	b.WriteString("  fi\n")
	fmt.Fprintf(&b, "elif [ -e %s ]; then\n", f(backupAbsent))
	b.WriteString("  if getent passwd \"$n\" >/dev/null; then userdel \"$n\" || exit 1; fi\n")
	b.WriteString("else\n")
	fmt.Fprintf(&b, "  printf '%%s\\n' %s >&2; exit 1\n", shell.Quote("skiff: no saved account "+u.name+" in "+dir))
	b.WriteString("fi\n")
	return backup, b.String(), ""
}
