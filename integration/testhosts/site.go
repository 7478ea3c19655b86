package testhosts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiffdeploy/skiff/integration/sumostandin/debbuild"
)

// SiteSettings prepares what the foobar.com site needs on these hosts and
// returns the inventory text for it (pass it to WriteInventory): the site
// variables, and secret blocks reading random secrets written 0600 under
// dir/secrets. The Sumo collector is the stand-in (built into dir), shipping
// to sumoURL ("" = an endpoint nobody runs). root is the repository.
func (c *Cluster) SiteSettings(ctx context.Context, root, dir, sumoURL string) (string, error) {
	deb, err := debbuild.Build(ctx, dir)
	if err != nil {
		return "", err
	}
	gw := c.Gateway()
	if sumoURL == "" {
		sumoURL = "http://" + gw + ":9"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `group "all" {
  vars = {
    domain       = "www.foobar.com"
    admin_cidrs  = ["%s/32"]
    app_version  = "1.0.0"
    app_binary   = %q
    sumo_package = %q
    sumo_url     = %q
  }
}
`, gw, filepath.Join(root, "bin", "foobar-app"), deb, sumoURL)
	for _, name := range []string{"mysql_root_password", "mysql_replication_password", "app_db_password", "sumo_access_id", "sumo_access_key"} {
		p := filepath.Join(dir, "secrets", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return "", err
		}
		buf := make([]byte, 12)
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(hex.EncodeToString(buf)+"\n"), 0o600); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "secret %q { file = %q }\n", name, p)
	}
	return b.String(), nil
}

// SiteHosts are the foobar.com site's hosts, in order, and each one's
// inventory groups: web1 and web2 in lb and web, db1 the primary, db2 the
// replica.
func SiteHosts() (names []string, groups map[string][]string) {
	names = []string{"web1", "web2", "db1", "db2"}
	groups = map[string][]string{
		"web1": {"lb", "web"},
		"web2": {"lb", "web"},
		"db1":  {"db_primary"},
		"db2":  {"db_replica"},
	}
	return names, groups
}
