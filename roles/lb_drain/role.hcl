# Before a web server's app changes: drain it in HAProxy on every lb host
# (runtime API), then wait until its sessions end or the timeout passes.
# Runs only when the app role has a change for this server.

variable "backend" { default = "web_tls" }
variable "drain_timeout" { default = "30s" }

task "haproxy_server" "drain" {
  delegate_to = "lb"
  backend     = var.backend
  server      = host.name
  state       = "drain"
  timeout     = var.drain_timeout
  if_changed  = ["app"]
}
