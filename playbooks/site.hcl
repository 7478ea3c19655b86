# The foobar.com stack. Order matters: the firewall first (it keeps SSH open
# for admins before it is enabled), the databases before the app that needs
# them.

play "firewall" { hosts = "all"  roles = ["ufw"] }

play "database" { hosts = "db_primary,db_replica"  roles = ["mysql"] }
play "primary"  { hosts = "db_primary"  roles = ["mysql_primary"] }
play "replica"  { hosts = "db_replica"  roles = ["mysql_replica"] }

# HAProxy before the web servers: it answers the ACME challenge for their
# certificate (when the site uses ACME), and its health checks keep a web
# server out of rotation while it is being changed.
play "lb"  { hosts = "lb"  roles = ["haproxy"] }
# One web server at a time: a broken release never takes both down. When
# its app changed, the next server waits until HAProxy reports this one UP on
# every lb host, and the run ends only when the site answers through them.
play "web" { hosts = "web"  roles = ["nginx", "app", "lb_ready"]  serial = 1  max_fail = 0 }

play "logs" { hosts = "all"  roles = ["sumo"] }
