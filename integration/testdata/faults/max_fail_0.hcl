# One host at a time; the first failure stops the play.
play "canary" {
  hosts    = "all"
  roles    = ["fail_on"]
  serial   = 1
  max_fail = 0
}
