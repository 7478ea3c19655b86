play "three" { hosts = "all"  roles = ["three_then_fail"] }
