# The slow role one host at a time: while the first host sleeps, the
# connections to the others sit idle (opened for the deploy lock).
play "slow" {
  hosts  = "all"
  roles  = ["slow"]
  serial = 1
}
