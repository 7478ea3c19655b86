# A planned switchover (playbooks/switchover.hcl): the replica named by
# `to` (the only one, when there is one) becomes the writer and the old
# primary its replica, with no acknowledged write lost. The playbook runs
# this role in three steps (its plays' `step`): the primary stops taking
# writes; the chosen replica catches up with the primary's GTID position
# and is made writable; the old primary (and any other replica) then
# replicates from it, over the same verified TLS as before.

variable "to" {
  default = ""
  validation {
    condition     = (var.to == "" && length(groups.db_replica) == 1) || contains([for h in groups.db_replica : h.name], var.to)
    error_message = "to names the replica that becomes the writer: one of the db_replica hosts (-e to=HOST; it may be left out when there is only one replica)."
  }
}
variable "step" {}

# Only while the chosen replica replicates from it: a broken replica
# does not leave the site without a writer.
task "mysql_writer" "stop_writes" {
  when        = var.step == "stop_writes"
  writable    = false
  handover_to = hosts[var.to != "" ? var.to : groups.db_replica[0].name].address
}

task "mysql_writer" "promote" {
  when         = var.step == "promote" && host.name == (var.to != "" ? var.to : groups.db_replica[0].name)
  promote_from = groups.db_primary[0].address
  catch_up     = "primary"
  peers        = { for h in concat(groups.db_primary, groups.db_replica) : h.name => h.address if h.name != host.name }
  user         = "repl"
  password     = secret.mysql_replication_password
  tls_ca       = "/etc/mysql/tls/ca.crt"
  inventory_edit = format("move %s to db_primary and %s to db_replica (the site playbook refuses these hosts until then)",
    host.name, join(", ", [for h in concat(groups.db_primary, groups.db_replica) : h.name if h.name != host.name]))
}

task "mysql_replication" "rejoin" {
  when         = var.step == "rejoin" && host.name != (var.to != "" ? var.to : groups.db_replica[0].name)
  primary_host = hosts[var.to != "" ? var.to : groups.db_replica[0].name].address
  user         = "repl"
  password     = secret.mysql_replication_password
  tls_ca       = "/etc/mysql/tls/ca.crt"
  seed         = false # a planned switchover keeps every history whole: no reseed
  demote       = true  # the old primary: read-only since the first step
}
