# A change delegated to a host named by a variable: for lock tests.
variable "lb" { default = "h2" }

task "file" "mark" {
  delegate_to = var.lb
  path        = "/etc/skiff-delegated-from-${host.name}"
  content     = "${host.name}\n"
}
