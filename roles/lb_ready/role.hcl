# After a web server passed its checks: set it ready in HAProxy on every lb
# host and wait until HAProxy's own health checks report it UP.

variable "backend" { default = "web_tls" }
variable "ready_timeout" { default = "60s" }

task "haproxy_server" "ready" {
  delegate_to = "lb"
  backend     = var.backend
  server      = host.name
  state       = "ready"
  timeout     = var.ready_timeout
  if_changed  = ["app"]
}
