play "big" { hosts = "all"  roles = ["bigfile"] }
