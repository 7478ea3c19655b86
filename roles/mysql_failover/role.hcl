# An unplanned failover (playbooks/failover.hcl): the primary is lost.
# Every replica stops receiving from it and applies what it received;
# then the replica named by `to`, or else the one that holds the most
# transactions (ties: the first by name), becomes the writer, and the
# other replicas replicate from it. The old primary is not contacted: it is
# fenced by the site's MariaDB config, which starts every server read-only
# (only the mysql_writer task makes a server writable), so when it comes
# back it takes no write. It rejoins as a replica through the site
# playbook once the inventory says so (reseeded when its history diverged).
#
# A primary that still answers and is writable is not failed over: the
# promotion refuses (use playbooks/switchover.hcl).

variable "to" {
  default = ""
  validation {
    condition     = var.to == "" || contains([for h in groups.db_replica : h.name], var.to)
    error_message = "to names the replica that becomes the writer: one of the db_replica hosts (-e to=HOST; left out, the one with the most transactions)."
  }
}
variable "step" {}

task "mysql_writer" "drain" {
  when       = var.step == "drain"
  writable   = false
  drain_from = groups.db_primary[0].address
}

task "mysql_writer" "promote" {
  when         = var.step == "promote" && (var.to == "" || host.name == var.to)
  promote_from = groups.db_primary[0].address
  catch_up     = "received"
  name         = host.name
  rivals       = var.to != "" ? [] : [for h in groups.db_replica : h.name if h.name != host.name]
  peers        = { for h in concat(groups.db_primary, groups.db_replica) : h.name => h.address if h.name != host.name }
  user         = "repl"
  password     = secret.mysql_replication_password
  tls_ca       = "/etc/mysql/tls/ca.crt"
  inventory_edit = format("move %s to db_primary and %s to db_replica; once it is back (read-only), the site playbook makes %s a replica",
    host.name, join(", ", [for h in concat(groups.db_primary, groups.db_replica) : h.name if h.name != host.name]), groups.db_primary[0].name)
}

# With `to`, the others are re-pointed here (without it, each replica
# that is not promoted re-points itself in the promote step).
task "mysql_replication" "repoint" {
  when         = var.step == "repoint" && var.to != "" && host.name != var.to
  primary_host = hosts[var.to != "" ? var.to : groups.db_replica[0].name].address
  user         = "repl"
  password     = secret.mysql_replication_password
  tls_ca       = "/etc/mysql/tls/ca.crt"
}
