# Unplanned failover: the MySQL primary is lost (down or unreachable).
#
#   skiff apply -i INV playbooks/failover.hcl [-e to=HOST] --yes
#
# The replica `to` (needed only when there are several: name the one with
# the most transactions) applies what it received from the primary and
# becomes the writer; the other replicas replicate from it. The primary is
# not contacted, and it is fenced: every server starts read-only and only
# skiff makes one writable, so when it comes back it takes no write. Then
# edit the inventory as the promotion's line says; the site playbook then
# makes the old primary a replica of the new writer (from its own GTID
# position, or reseeded when it committed what no replica acknowledged).

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
