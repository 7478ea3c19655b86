# Planned switchover: a replica becomes the MySQL writer and the primary
# its replica, with no acknowledged write lost.
#
#   skiff plan  -i INV playbooks/switchover.hcl [-e to=HOST]
#   skiff apply -i INV playbooks/switchover.hcl [-e to=HOST] --yes
#
# `to` names the new writer, one of db_replica (needed only when there are
# several). Writes stop on the primary (read_only), the replica applies
# everything the primary wrote (by GTID) and takes writes, then the old
# primary replicates from it. The app follows without a restart. Then edit
# the inventory as the promotion's line says (the new writer in
# db_primary, the old primary in db_replica): until then the site playbook
# refuses the db hosts. Run it again with the old primary as `to` to go back.
#
# Each play stops the run when it fails (max_fail = 0): writes stop only
# while the chosen replica replicates from the primary, and when the
# promotion fails (the replica did not catch up within 30 s) nothing is
# re-pointed; the primary is then read-only and still the inventory's
# primary, and `skiff apply playbooks/site.hcl` makes it the writer again.

play "stop_writes" {
  hosts    = "db_primary"
  roles    = ["mysql_switchover"]
  vars     = { step = "stop_writes" }
  max_fail = 0
}

play "promote" {
  hosts    = "db_replica"
  roles    = ["mysql_switchover"]
  vars     = { step = "promote" }
  max_fail = 0
}

play "rejoin" {
  hosts    = "db_primary,db_replica"
  roles    = ["mysql_switchover"]
  vars     = { step = "rejoin" }
}
