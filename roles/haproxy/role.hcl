# HAProxy on the lb hosts: :80 redirects to https; :443 passes TLS through,
# untouched, to nginx on every web server (end-to-end encryption: no clear
# text between hosts). Health checks speak TLS to nginx, verify its
# certificate and ask the app's /healthz. The runtime API socket is on, for
# draining servers during a rolling upgrade.

variable "domain" { default = "www.foobar.com" }
variable "nginx_port" { default = 8443 }
variable "tls_cert_file" { default = "" }
# CA that signed the web servers' certificates: skiff's local CA unless
# real certificates are given, then the system's trust store.
variable "tls_ca_file" { default = "" }

task "package" "haproxy" { name = "haproxy" }

task "file" "backend_ca" {
  path    = "/etc/haproxy/backend-ca.crt"
  content = var.tls_ca_file != "" ? file(var.tls_ca_file) : (var.tls_cert_file != "" ? file("/etc/ssl/certs/ca-certificates.crt") : tls_ca_cert())
  mode    = "0644"
  notify  = ["reload_haproxy"]
}

task "template" "cfg" {
  source   = "haproxy.cfg.tftpl"
  path     = "/etc/haproxy/haproxy.cfg"
  mode     = "0644"
  validate = "haproxy -c -q -f %s"
  notify   = ["reload_haproxy"]
}

task "service" "haproxy" {
  name    = "haproxy"
  state   = "started"
  enabled = true
}

# Debian's unit reloads in master-worker mode: new workers take over the
# listening sockets, old ones finish their connections. Nothing is dropped.
handler "service" "reload_haproxy" {
  name  = "haproxy"
  state = "reloaded"
}
