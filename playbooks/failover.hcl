# Unplanned failover: the MySQL primary is lost (down or unreachable).
#
#   skiff apply -i INV playbooks/failover.hcl [-e to=HOST] --yes
#
# Every replica stops receiving from the primary and applies what it
# received; then the replica `to`, or else the one with the most
# transactions (ties: the first by name), becomes the writer, and the
# other replicas replicate from it. The primary is not contacted, and it
# is fenced: every server starts read-only and only skiff makes one
# writable, so when it comes back it takes no write. Then
# edit the inventory as the promotion's line says; the site playbook then
# makes the old primary a replica of the new writer (from its own GTID
# position, or reseeded when it committed what no replica acknowledged).

play "drain" {
  hosts    = "db_replica"
  roles    = ["mysql_failover"]
  vars     = { step = "drain" }
}

play "promote" {
  hosts    = "db_replica"
  roles    = ["mysql_failover"]
  vars     = { step = "promote" }
  max_fail = 0 # a failed promotion re-points nothing
}

play "repoint" {
  hosts    = "db_replica"
  roles    = ["mysql_failover"]
  vars     = { step = "repoint" }
}
