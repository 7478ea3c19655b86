# Rolling upgrade of the app behind HAProxy, one web server at a time:
#
#   skiff apply -i INV playbooks/upgrade.hcl -e app_version=V -e app_binary=PATH --yes
#
# For each server: drain it on every lb host through the runtime API; ship
# the release, switch `current`, restart; wait until /healthz answers and
# /version reports V; set it ready and wait until HAProxy reports it UP.
# A failure puts that server back on its previous release (automatic
# rollback) and stops the rollout with exit 1; servers already upgraded
# stay on V unless --revert-all is given. An earlier V reuses the release
# still on the hosts: nothing is uploaded. A server already on V is left
# alone: no drain, no restart.
#
# For a canary first, write serial = [1, 2]: one server, then two at a time.

play "upgrade" {
  hosts    = "web"
  roles    = ["lb_drain", "app", "app_verify", "lb_ready"]
  serial   = 1
  max_fail = 0
}
