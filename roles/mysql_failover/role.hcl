# An unplanned failover (playbooks/failover.hcl): the primary is lost; the
# replica named by `to` (the only one, when there is one) applies what it
# received from it and becomes the writer; the other replicas replicate
# from it. The old primary is not contacted: it is fenced by the site's
# MariaDB config, which starts every server read-only (only the
# mysql_writer task makes a server writable), so when it comes back it
# takes no write. It rejoins as a replica through the site playbook once
# the inventory says so (reseeded when its history diverged).
#
# A primary that still answers and is writable is not failed over: the
# promotion refuses (use playbooks/switchover.hcl).

variable "to" {
  default = ""
  validation {
    condition     = (var.to == "" && length(groups.db_replica) == 1) || contains([for h in groups.db_replica : h.name], var.to)
    error_message = "to names the replica that becomes the writer: one of the db_replica hosts (-e to=HOST; it may be left out when there is only one replica). With several, name the one with the most transactions (Gtid_IO_Pos in SHOW SLAVE STATUS)."
  }
}
variable "step" {}

task "mysql_writer" "promote" {
  when         = var.step == "promote" && host.name == (var.to != "" ? var.to : groups.db_replica[0].name)
  promote_from = groups.db_primary[0].address
  catch_up     = "received"
  peers        = { for h in concat(groups.db_primary, groups.db_replica) : h.name => h.address if h.name != host.name }
  user         = "repl"
  password     = secret.mysql_replication_password
  tls_ca       = "/etc/mysql/tls/ca.crt"
  inventory_edit = format("move %s to db_primary and %s to db_replica; once it is back (read-only), the site playbook makes %s a replica",
    host.name, join(", ", [for h in concat(groups.db_primary, groups.db_replica) : h.name if h.name != host.name]), groups.db_primary[0].name)
}

task "mysql_replication" "repoint" {
  when         = var.step == "repoint" && host.name != (var.to != "" ? var.to : groups.db_replica[0].name)
  primary_host = hosts[var.to != "" ? var.to : groups.db_replica[0].name].address
  user         = "repl"
  password     = secret.mysql_replication_password
  tls_ca       = "/etc/mysql/tls/ca.crt"
}
