package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// requireOf maps mysql.user's ssl_type to require's values ("specified":
// issuer, subject or cipher conditions, which require never sets).
func requireOf(sslType string) string {
	switch strings.ToUpper(sslType) {
	case "":
		return "none"
	case "ANY":
		return "ssl"
	case "X509":
		return "x509"
	}
	return "specified"
}

// requireSQL is the REQUIRE clause for a require value.
func requireSQL(require string) string {
	if require == "specified" {
		return "REQUIRE (issuer, subject or cipher)"
	}
	return "REQUIRE " + strings.ToUpper(require)
}

func (u *User) accountList(hosts []string) string {
	var out []string
	for _, h := range hosts {
		out = append(out, u.name+"@"+h)
	}
	return strings.Join(out, ", ")
}

// Apply runs the statements Check chose, in one client session that stops
// at the first error.
func (u *User) Apply(ctx context.Context, t transport.Transport) error {
	if u.pending {
		return fmt.Errorf("the MySQL/MariaDB server is still not running on the host: cannot create user %s", u.name)
	}
	if u.sql == "" {
		return nil
	}
	return shell.Run(ctx, t, "MySQL user "+u.name, runSQL(u.sql, ""), u.secrets)
}
