# Before a web server's app changes: drain it in HAProxy on every lb host
# (runtime API), then wait until its sessions end or the timeout passes.
# Runs only when the app role has a change for this server.
#
# HAProxy passes TLS through (mode tcp), so it cannot end a client's
# keep-alive connection between two requests: such a client stays on the
# drained server as long as nginx keeps its connection (up to
# keepalive_requests). A reload of nginx on the drained server ends each of
# them after its current response; the clients reconnect, through HAProxy,
# to the servers still in rotation.

variable "backend" { default = "web_tls" }
variable "drain_timeout" { default = "30s" }
# The service that holds the clients' connections on the web server, reloaded
# once the server is drained; "" leaves it alone.
variable "web_service" { default = "nginx" }

task "haproxy_server" "drain" {
  delegate_to = "lb"
  backend     = var.backend
  server      = host.name
  state       = "drain"
  wait        = false
  if_changed  = ["app"]
}

task "service" "close_connections" {
  when       = var.web_service != ""
  name       = var.web_service
  state      = "reloaded"
  if_changed = ["app"]
}

task "haproxy_server" "drained" {
  delegate_to = "lb"
  backend     = var.backend
  server      = host.name
  state       = "drain"
  timeout     = var.drain_timeout
  if_changed  = ["app"]
}
