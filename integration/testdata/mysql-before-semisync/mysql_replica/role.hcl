# A replica: replicates from the primary by GTID, seeded first from a
# consistent dump when the primary already holds data, so nothing is lost.
# The app reads from it with an account of its own (kept out of the
# replica's binary log).

# Over TLS, the primary's certificate (roles/mysql) checked against skiff's CA.
task "mysql_replication" "primary" {
  primary_host = groups.db_primary[0].address
  user         = "repl"
  password     = secret.mysql_replication_password
  tls_ca       = "/etc/mysql/tls/ca.crt"
}

task "mysql_user" "app" {
  name       = "foobar"
  hosts      = [for h in groups.web : h.address]
  password   = secret.app_db_password
  require    = "ssl"
  privileges = ["foobar.*:SELECT,INSERT,UPDATE,DELETE,CREATE,INDEX,ALTER"] # as on the primary: read_only keeps it from writing
  binlog     = false
}
