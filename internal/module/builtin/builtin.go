// Package builtin lists the task kinds skiff ships with: each kind's
// factory and, where it has one, its native probe answerer, together.
package builtin

import (
	"path/filepath"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/acme"
	"github.com/skiffdeploy/skiff/internal/module/apt"
	"github.com/skiffdeploy/skiff/internal/module/aptrepo"
	"github.com/skiffdeploy/skiff/internal/module/blockinfile"
	"github.com/skiffdeploy/skiff/internal/module/command"
	"github.com/skiffdeploy/skiff/internal/module/cron"
	"github.com/skiffdeploy/skiff/internal/module/directory"
	"github.com/skiffdeploy/skiff/internal/module/download"
	"github.com/skiffdeploy/skiff/internal/module/file"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/git"
	"github.com/skiffdeploy/skiff/internal/module/group"
	"github.com/skiffdeploy/skiff/internal/module/haproxy"
	"github.com/skiffdeploy/skiff/internal/module/lineinfile"
	"github.com/skiffdeploy/skiff/internal/module/mysql"
	"github.com/skiffdeploy/skiff/internal/module/service"
	"github.com/skiffdeploy/skiff/internal/module/symlink"
	"github.com/skiffdeploy/skiff/internal/module/sysctl"
	"github.com/skiffdeploy/skiff/internal/module/template"
	"github.com/skiffdeploy/skiff/internal/module/ufw"
	"github.com/skiffdeploy/skiff/internal/module/unarchive"
	"github.com/skiffdeploy/skiff/internal/module/user"
	"github.com/skiffdeploy/skiff/internal/module/waithttp"
)

// Kinds returns the built-in kinds.
func Kinds() module.Kinds {
	return module.Kinds{
		"package":   {New: apt.New, Natives: apt.Natives, Serves: apt.Serves},
		"file":      {New: file.New, Natives: filestate.Natives},
		"template":  {New: template.New, Natives: filestate.Natives},
		"directory": {New: directory.New, Natives: filestate.Natives},
		"symlink":   {New: symlink.New, Natives: filestate.Natives},
		"service":   {New: service.New, Natives: service.Natives},
		"command":   {New: command.New},
		"user":      {New: user.New, Natives: user.Natives},
		"group":     {New: group.New, Natives: group.Natives},
		"ufw":       {New: ufw.New, Natives: ufw.Natives},

		"line_in_file":  {New: lineinfile.New, Natives: filestate.Natives},
		"block_in_file": {New: blockinfile.New, Natives: filestate.Natives},
		"sysctl":        {New: sysctl.New, Natives: sysctl.Natives},
		"cron":          {New: cron.New, Natives: filestate.Natives},
		"download":      {New: download.New, Natives: download.Natives},
		"unarchive":     {New: unarchive.New, Natives: unarchive.Natives},

		"apt_repository": {New: aptrepo.New, Natives: aptrepo.Natives, Serves: aptrepo.Serves},
		"git":            {New: git.New},

		"mysql_database":    {New: mysql.NewDatabase, Natives: mysql.Natives},
		"mysql_user":        {New: mysql.NewUser, Natives: mysql.Natives},
		"mysql_replication": {New: mysql.NewReplication},
		"mysql_writer":      {New: mysql.NewWriter},

		"haproxy_server": {New: haproxy.New},
		"wait_http":      {New: waithttp.New},

		// Certificates kept under .skiff/acme of the working folder; a
		// run keeps them beside its inventory (see StateDir).
		// It answers the challenge on the lb hosts (challenge_hosts).
		"acme_certificate": {New: acme.Factory(filepath.Join(".skiff", "acme")), SpansHosts: true},
	}
}

// WithStateDir returns r with the kinds that keep state on the operator's
// machine (acme_certificate) keeping it under dir, the .skiff folder
// beside the inventory.
func WithStateDir(r module.Registry, dir string) module.Registry {
	r["acme_certificate"] = acme.Factory(filepath.Join(dir, "acme"))
	return r
}

// Registry returns a fresh registry of the built-in kinds' factories;
// callers may add their own kinds to it.
func Registry() module.Registry { return Kinds().Registry() }

// Answerers are the built-in kinds' native probe answerers, which the
// probe helper runs.
func Answerers() map[string]module.NativeAnswerer { return Kinds().Answerers() }
