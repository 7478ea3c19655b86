// Package builtin lists the task kinds skiff ships with.
package builtin

import (
	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/apt"
	"github.com/skiffdeploy/skiff/internal/module/command"
	"github.com/skiffdeploy/skiff/internal/module/directory"
	"github.com/skiffdeploy/skiff/internal/module/file"
	"github.com/skiffdeploy/skiff/internal/module/group"
	"github.com/skiffdeploy/skiff/internal/module/haproxy"
	"github.com/skiffdeploy/skiff/internal/module/mysql"
	"github.com/skiffdeploy/skiff/internal/module/service"
	"github.com/skiffdeploy/skiff/internal/module/symlink"
	"github.com/skiffdeploy/skiff/internal/module/template"
	"github.com/skiffdeploy/skiff/internal/module/ufw"
	"github.com/skiffdeploy/skiff/internal/module/user"
	"github.com/skiffdeploy/skiff/internal/module/waithttp"
)

// Registry returns a fresh registry of the built-in kinds; callers may add
// their own kinds to it.
func Registry() module.Registry {
	return module.Registry{
		"package":   apt.New,
		"file":      file.New,
		"template":  template.New,
		"directory": directory.New,
		"symlink":   symlink.New,
		"service":   service.New,
		"command":   command.New,
		"user":      user.New,
		"group":     group.New,
		"ufw":       ufw.New,

		"mysql_database":    mysql.NewDatabase,
		"mysql_user":        mysql.NewUser,
		"mysql_replication": mysql.NewReplication,

		"haproxy_server": haproxy.New,
		"wait_http":      waithttp.New,
	}
}
