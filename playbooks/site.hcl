# The foobar.com stack. Order matters: the firewall first (it keeps SSH open
# for admins before it is enabled), the databases before the app that needs
# them.

play "firewall" { hosts = "all"  roles = ["ufw"] }

play "database" { hosts = "db_primary,db_replica"  roles = ["mysql"] }
play "primary"  { hosts = "db_primary"  roles = ["mysql_primary"] }
play "replica"  { hosts = "db_replica"  roles = ["mysql_replica"] }

# HAProxy before the web servers: it answers the ACME challenge for their
# certificate (when the site uses ACME), and its health checks keep a web
# server out of rotation while it is being changed. Neither it nor nginx
# needs the databases: on hosts that are not db servers they are set up
# while the databases are.
play "lb"    { hosts = "lb"   roles = ["haproxy"]  after = ["firewall"] }
play "nginx" { hosts = "web"  roles = ["nginx"]  after = ["lb"]  serial = 1  max_fail = 0 }
# The app needs the databases: this play waits for every play above. One
# web server at a time: a broken release never takes both down. When its
# app changed, the next server waits until HAProxy reports this one UP on
# every lb host, and the run ends only when the site answers through them.
play "web" { hosts = "web"  roles = ["app", "lb_ready"]  serial = 1  max_fail = 0 }

play "logs" { hosts = "all"  roles = ["sumo"] }
