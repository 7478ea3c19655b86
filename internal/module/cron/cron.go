// Package cron is the "cron" task kind: one job, in a file of its own in
// /etc/cron.d/ (named skiff-NAME), written and undone as the file kind
// writes files.
//
//	task "cron" "backup" {
//	  name     = "backup"
//	  user     = "backup"
//	  schedule = "15 3 * * *"
//	  command  = "/usr/local/bin/backup --quiet"
//	}
package cron

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// Dir is the folder of the jobs' files. Tests point it elsewhere.
var Dir = "/etc/cron.d"

// FilePrefix starts every job file's name, so that a job never takes the
// name of a file a package ships there.
const FilePrefix = "skiff-"

var (
	// cron reads only files of /etc/cron.d whose names are made of these.
	namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	userPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)
	// One field of a five-field schedule: numbers, names (jan, mon), *,
	// ranges, lists and steps.
	fieldPattern = regexp.MustCompile(`^[A-Za-z0-9*,/-]+$`)
	nicknames    = []string{"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)

// Cron is one cron task; the file kind's module does the work.
type Cron struct {
	*filestate.File
}

var (
	_ module.Module     = (*Cron)(nil)
	_ module.Reversible = (*Cron)(nil)
)

// New is the module.Factory of the "cron" kind.
func New(a *module.Args) module.Module {
	a.RejectSensitive("name", "user", "schedule")
	if a.Sensitive("command") {
		a.Errorf("command", "command must not derive from a secret: the job's file in %s is readable by every user of the host. Let the command read the secret from a root-only file.", Dir)
	}
	name := a.String("name", true)
	if name != "" && !namePattern.MatchString(name) {
		a.Errorf("name", "name %q must be made of letters, digits, '_' and '-' (it names the job's file, and cron ignores files with other names).", name)
		name = ""
	}
	absent := a.OneOf("state", "present", "present", "absent") == "absent"
	user := a.StringDefault("user", "root")
	if !userPattern.MatchString(user) && !a.Unknown("user") {
		a.Errorf("user", "%q is not a user name.", user)
	}
	schedule := a.String("schedule", !absent)
	if schedule != "" && !validSchedule(schedule) {
		a.Errorf("schedule", "schedule %q is neither five fields (\"*/5 * * * *\") nor one of %s.", schedule, strings.Join(nicknames, ", "))
	}
	command := a.String("command", !absent)
	switch {
	case strings.ContainsAny(command, "\r\n\x00"):
		a.Errorf("command", "command must be one line.")
	case strings.Contains(command, `\%`):
		a.Errorf("command", "Write %% as it is, not \\%%: skiff escapes it for cron, which would otherwise end the command there.")
	}
	s := filestate.Spec{
		Meta:   filestate.Meta{Owner: "root", Group: "root", Mode: 0o644, HasMode: true},
		Absent: absent,
		Source: "the cron task's job line",
	}
	if name != "" {
		s.Path = path.Join(Dir, FilePrefix+name)
	}
	if !absent {
		known := !a.Unknown("name") && !a.Unknown("user") && !a.Unknown("schedule") && !a.Unknown("command")
		s.Content, s.Known = []byte(Render(name, user, schedule, command)), known
	}
	return &Cron{File: filestate.New(s)}
}

// validSchedule accepts five fields or a nickname.
func validSchedule(s string) bool {
	if strings.HasPrefix(s, "@") {
		for _, n := range nicknames {
			if s == n {
				return true
			}
		}
		return false
	}
	f := strings.Fields(s)
	if len(f) != 5 {
		return false
	}
	for _, x := range f {
		if !fieldPattern.MatchString(x) {
			return false
		}
	}
	return true
}

// Render is the job's file. A "%" in command, which cron would turn into
// a line break, is escaped, so the command runs as written.
func Render(name, user, schedule, command string) string {
	return fmt.Sprintf("# skiff manages this file (cron task %q): changes made here are overwritten.\n"+
		"SHELL=/bin/sh\n"+
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"+
		"%s %s %s\n", name, strings.Join(strings.Fields(schedule), " "), user, strings.ReplaceAll(command, "%", `\%`))
}
