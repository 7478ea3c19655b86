# MariaDB (Debian's MySQL-compatible server) on the db hosts: binary log in
# ROW format with GTIDs, a server id per host, TLS with a certificate from
# skiff's local CA (required of every TCP client: require_secure_transport),
# LOAD DATA LOCAL off, no DNS lookups of clients, read_only on replicas.
# Changing the settings restarts the server (skip_name_resolve is read only
# at start); replicas reconnect by themselves. Accounts and replication are the
# mysql_primary and mysql_replica roles' (they run after this play's
# restart handler).
#
# Replication is semi-synchronous: the primary acknowledges a commit once a
# replica holds it, or after mysql_semi_sync_timeout_ms without an answer
# (then asynchronously until a replica catches up). 2 s is far above a
# replica's usual answer (milliseconds) and below the app's 5 s request
# deadline, so a write stalled by a lost replica still gets its answer.
variable "mysql_semi_sync_timeout_ms" {
  default = 2000
  validation {
    condition     = length(regexall("^[1-9][0-9]{0,6}$", var.mysql_semi_sync_timeout_ms)) > 0
    error_message = "mysql_semi_sync_timeout_ms must be a whole number of milliseconds, 1 to 9999999."
  }
}

task "package" "mariadb" { names = ["mariadb-server", "mariadb-client"] }

# Binary logs and the error log (which the collector ships) live here;
# Debian's package logs to the journal and does not create it.
task "directory" "logs" {
  path  = "/var/log/mysql"
  owner = "mysql"
  group = "adm"
  mode  = "2750"
}

task "directory" "tls" {
  path  = "/etc/mysql/tls"
  owner = "root"
  group = "mysql"
  mode  = "0750"
}

task "file" "ca" {
  path    = "/etc/mysql/tls/ca.crt"
  content = tls_ca_cert()
  mode    = "0644"
  notify  = ["restart_mariadb"]
}

task "file" "cert" {
  path    = "/etc/mysql/tls/server.crt"
  content = tls_cert("mysql-${host.name}", [host.name], [host.address]).cert
  mode    = "0644"
  notify  = ["restart_mariadb"]
}

task "file" "key" {
  path    = "/etc/mysql/tls/server.key"
  content = tls_cert("mysql-${host.name}", [host.name], [host.address]).key
  owner   = "mysql"
  mode    = "0600"
  notify  = ["restart_mariadb"]
}

task "template" "cnf" {
  source = "60-skiff.cnf.tftpl"
  path   = "/etc/mysql/mariadb.conf.d/60-skiff.cnf"
  mode   = "0644"
  notify = ["restart_mariadb"]
}

task "service" "mariadb" {
  name    = "mariadb"
  state   = "started"
  enabled = true
}

handler "service" "restart_mariadb" {
  name  = "mariadb"
  state = "restarted"
}
