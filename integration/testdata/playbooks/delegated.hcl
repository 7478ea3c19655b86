play "delegated" { hosts = "all"  roles = ["delegated"] }
