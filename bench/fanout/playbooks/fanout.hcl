# The fan-out benchmark's playbook: the fanout role on every host of the
# inventory (10, 25 or 50 test hosts). Its roles are in ../roles.
play "fanout" {
  hosts = "all"
  roles = ["fanout"]
}
