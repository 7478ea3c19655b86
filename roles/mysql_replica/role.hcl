# A replica: replicates from the primary by GTID, seeded first from a
# consistent dump when the primary already holds data, so nothing is lost.
# The app reads from it with an account of its own (kept out of the
# replica's binary log).
#
# A replica that is a writer (after a switchover or a failover whose
# inventory edit was not made yet) fails here rather than being turned
# back into a replica; an old primary that comes back fenced (read-only)
# rejoins from its own GTID position, reseeded when its history diverged.

# Over TLS, the primary's certificate (roles/mysql) checked against skiff's CA.
task "mysql_replication" "primary" {
  primary_host = groups.db_primary[0].address
  user         = "repl"
  password     = secret.mysql_replication_password
  tls_ca       = "/etc/mysql/tls/ca.crt"
}

# The account the other db hosts replicate with once this one is promoted
# (as on the primary).
task "mysql_user" "replication" {
  name       = "repl"
  hosts      = [for h in concat(groups.db_primary, groups.db_replica) : h.address if h.name != host.name]
  password   = secret.mysql_replication_password
  require    = "ssl"
  privileges = ["*.*:REPLICATION SLAVE,SELECT,SHOW VIEW,EVENT,TRIGGER"]
  binlog     = false
}

task "mysql_user" "app" {
  name       = "foobar"
  hosts      = [for h in groups.web : h.address]
  password   = secret.app_db_password
  require    = "ssl"
  privileges = ["foobar.*:SELECT,INSERT,UPDATE,DELETE,CREATE,INDEX,ALTER"] # as on the primary: read_only keeps it from writing
  binlog     = false
}
