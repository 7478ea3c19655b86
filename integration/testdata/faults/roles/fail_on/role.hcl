# One change, then a command that fails on the host named by fail_on: the
# max_fail tests' role.
variable "fail_on" { default = "h1" }
variable "stamp" { default = "1" }

task "file" "mark" {
  path    = "/etc/skiff-maxfail"
  content = "${var.stamp}\n"
}

task "command" "fail" {
  command = "echo 'failing on purpose' >&2; false"
  when    = host.name == var.fail_on
}
