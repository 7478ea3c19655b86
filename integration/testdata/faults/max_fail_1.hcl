# One host at a time; one failed host is tolerated.
play "canary" {
  hosts    = "all"
  roles    = ["fail_on"]
  serial   = 1
  max_fail = 1
}
