# After a web server's app changed: wait until it is healthy (its database
# answers) and reports the release being deployed.

variable "app_port" { default = 8080 }
variable "app_version" { default = "dev" }
variable "verify_timeout" { default = "60s" }

# Each check is polled on the web server itself, in one round trip; a
# request made while the app restarts waits in its socket's backlog.

task "wait_http" "healthy" {
  url        = "http://127.0.0.1:${var.app_port}/healthz"
  timeout    = var.verify_timeout
  interval   = "250ms"
  if_changed = ["app"]
}

task "wait_http" "version" {
  url        = "http://127.0.0.1:${var.app_port}/version"
  body       = var.app_version
  timeout    = var.verify_timeout
  interval   = "250ms"
  if_changed = ["app"]
}
