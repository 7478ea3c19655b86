play "slow" { hosts = "all"  roles = ["slow"] }
