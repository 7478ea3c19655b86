// Package builtin lists the task kinds skiff ships with.
package builtin

import (
	"skiff/internal/module"
	"skiff/internal/module/apt"
	"skiff/internal/module/command"
	"skiff/internal/module/directory"
	"skiff/internal/module/file"
	"skiff/internal/module/group"
	"skiff/internal/module/haproxy"
	"skiff/internal/module/mysql"
	"skiff/internal/module/service"
	"skiff/internal/module/symlink"
	"skiff/internal/module/template"
	"skiff/internal/module/ufw"
	"skiff/internal/module/user"
	"skiff/internal/module/waithttp"
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
