# The primary: the writer (read_only off and the primary side of
# semi-synchronous replication on, set at run time: every server starts
# read-only), the app's database, the app's account (from the web hosts
# only) and the replication account (from the other db hosts only).

# First: a host that is no longer the writer (after a switchover or a
# failover whose inventory edit was not made yet) fails here, before any
# change, instead of taking writes again. It asks the other db hosts,
# over verified TLS, whether one of them is writable.
task "mysql_writer" "writer" {
  writable = true
  peers    = { for h in concat(groups.db_primary, groups.db_replica) : h.name => h.address if h.name != host.name }
  user     = "repl"
  password = secret.mysql_replication_password
  tls_ca   = "/etc/mysql/tls/ca.crt"
}

task "mysql_database" "app" { name = "foobar" }

# What a replica needs to replicate and to seed itself from a consistent dump.
# Kept out of the binary log: the replicas do not hold this account (their
# seed leaves the mysql schema out), so a replicated ALTER USER of it (a new
# password, REQUIRE) would stop their SQL thread. Every db host has it, for
# every other db host: whichever is promoted, the others replicate from it.
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
  privileges = ["foobar.*:SELECT,INSERT,UPDATE,DELETE,CREATE,INDEX,ALTER"]
}
