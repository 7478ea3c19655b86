# The primary: the app's database, the app's account (from the web hosts
# only) and the replication account (from the replicas only).

task "mysql_database" "app" { name = "foobar" }

# What a replica needs to replicate and to seed itself from a consistent dump.
# Kept out of the binary log: the replicas do not hold this account (their
# seed leaves the mysql schema out), so a replicated ALTER USER of it (a new
# password, REQUIRE) would stop their SQL thread.
task "mysql_user" "replication" {
  name       = "repl"
  hosts      = [for h in groups.db_replica : h.address]
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
  privileges = ["foobar.*:SELECT,INSERT,UPDATE,DELETE,CREATE,INDEX,ALTER"]
}
