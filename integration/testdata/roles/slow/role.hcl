# A change, a slow command, another change: for lock and interrupt tests.
variable "stamp" { default = "1" }
variable "seconds" { default = 4 }

task "file" "before" {
  path    = "/etc/skiff-slow-before"
  content = "${var.stamp}\n"
}

task "command" "sleep" { command = "sleep ${var.seconds}" }

task "file" "after" {
  path    = "/etc/skiff-slow-after"
  content = "${var.stamp}\n"
}
