# The foobar.com stack. Order matters: the firewall first (it keeps SSH open
# for admins before it is enabled), the databases before the app that needs
# them, HAProxy once there are web servers to check.

play "firewall" { hosts = "all"  roles = ["ufw"] }

play "database" { hosts = "db_primary,db_replica"  roles = ["mysql"] }
play "primary"  { hosts = "db_primary"  roles = ["mysql_primary"] }
play "replica"  { hosts = "db_replica"  roles = ["mysql_replica"] }

# One web server at a time: a broken release never takes both down.
play "web" { hosts = "web"  roles = ["nginx", "app"]  serial = 1  max_fail = 0 }
play "lb"  { hosts = "lb"  roles = ["haproxy"] }

play "logs" { hosts = "all"  roles = ["sumo"] }
