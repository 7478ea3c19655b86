# The primary: the app's database, the app's account (from the web hosts
# only) and the replication account (from the replicas only).

task "mysql_database" "app" { name = "foobar" }

# What a replica needs to replicate and to seed itself from a consistent dump.
task "mysql_user" "replication" {
  name       = "repl"
  hosts      = [for h in groups.db_replica : h.address]
  password   = secret.mysql_replication_password
  privileges = ["*.*:REPLICATION SLAVE,SELECT,SHOW VIEW,EVENT,TRIGGER"]
}

task "mysql_user" "app" {
  name       = "foobar"
  hosts      = [for h in groups.web : h.address]
  password   = secret.app_db_password
  privileges = ["foobar.*:SELECT,INSERT,UPDATE,DELETE,CREATE,INDEX,ALTER"]
}
