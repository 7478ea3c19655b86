# nginx on each web server: terminates TLS (1.2 and up) for var.domain on
# var.nginx_port and proxies to the app on localhost. The certificate comes
# from tls_cert_file/tls_key_file when set, else from skiff's local CA (one
# key per host, kept in .skiff/pki so reruns change nothing).

variable "domain" { default = "www.foobar.com" }
variable "nginx_port" { default = 8443 }
variable "app_port" { default = 8080 }
variable "tls_cert_file" { default = "" }
variable "tls_key_file" { default = "" }

task "package" "nginx" { name = "nginx" }

task "directory" "tls" {
  path  = "/etc/nginx/tls"
  owner = "root"
  mode  = "0700"
}

task "file" "cert" {
  path    = "/etc/nginx/tls/site.crt"
  content = var.tls_cert_file != "" ? file(var.tls_cert_file) : tls_cert("nginx-${host.name}", [var.domain, host.name], [host.address]).cert
  owner   = "root"
  mode    = "0644"
  notify  = ["reload_nginx"]
}

task "file" "key" {
  path    = "/etc/nginx/tls/site.key"
  content = var.tls_key_file != "" ? sensitive(file(var.tls_key_file)) : tls_cert("nginx-${host.name}", [var.domain, host.name], [host.address]).key
  owner   = "root"
  mode    = "0600"
  notify  = ["reload_nginx"]
}

# The whole main config, so `nginx -t -c` can check the new file itself
# before it replaces the live one. HTTP/2 is on: nginx 1.25.1 and later
# (Debian 13 and later) with the "http2" directive, as they warn about the
# "listen ... http2" form at every start; older nginx (Debian 12 and
# before, other systems) with that form, the only one it knows.
task "template" "conf" {
  source   = "nginx.conf.tftpl"
  path     = "/etc/nginx/nginx.conf"
  mode     = "0644"
  validate = "nginx -t -q -c %s"
  notify   = ["reload_nginx"]
}

task "service" "nginx" {
  name    = "nginx"
  state   = "started"
  enabled = true
}

handler "service" "reload_nginx" {
  name  = "nginx"
  state = "reloaded"
}
