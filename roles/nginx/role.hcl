# nginx on each web server: terminates TLS for var.domain on var.nginx_port
# (HAProxy passes clients' TLS through to it) and proxies to the app on
# localhost. The certificate comes from tls_cert_file/tls_key_file when set,
# else from skiff's local CA (one key per host, kept in .skiff/pki so reruns
# change nothing).

variable "domain" { default = "www.foobar.com" }
variable "nginx_port" { default = 8443 }
variable "app_port" { default = 8080 }
variable "tls_cert_file" { default = "" }
variable "tls_key_file" { default = "" }

# ACME (Let's Encrypt or another ACME server): when acme_directory_url is
# set, the certificate for var.domain comes from it (the acme_certificate
# task, HTTP-01 answered by HAProxy on the lb hosts), and the local CA's
# certificate (inner.crt) serves the host's own name, for HAProxy's health
# checks. Unset: the local CA (or tls_cert_file) serves everything.
variable "acme_directory_url" { default = "" }
variable "acme_email" { default = "" }
variable "acme_directory_ca_file" { default = "" }
variable "acme_renew_before" { default = "30d" }

# The TLS profile, Mozilla's intermediate server profile by default; the
# template reads it from here only. The haproxy role's health checks use the
# same variable names, so one inventory value sets both ends.
variable "tls_min_version" {
  default = "TLSv1.2"
  validation {
    condition     = contains(["TLSv1.2", "TLSv1.3"], var.tls_min_version)
    error_message = "tls_min_version must be \"TLSv1.2\" or \"TLSv1.3\"."
  }
}
# TLS 1.2 suites (OpenSSL names): forward secrecy (ECDHE) with AEAD
# ciphers only. TLS 1.3 offers AEAD suites only anyway.
variable "tls_ciphers" {
  default = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
  validation {
    condition     = length(regexall("^[A-Za-z0-9+_:-]+$", var.tls_ciphers)) > 0
    error_message = "tls_ciphers must be an OpenSSL cipher list: names joined by ':'."
  }
}
variable "tls_curves" {
  default = "X25519:prime256v1:secp384r1"
  validation {
    condition     = length(regexall("^[A-Za-z0-9_:-]+$", var.tls_curves)) > 0
    error_message = "tls_curves must be OpenSSL group names joined by ':'."
  }
}
# Strict-Transport-Security on every HTTPS response: two years; 0 drops
# the header (browsers that saw it keep it until their copy expires).
variable "hsts_max_age" {
  default = 63072000
  validation {
    condition     = length(regexall("^[0-9]+$", var.hsts_max_age)) > 0
    error_message = "hsts_max_age must be a whole number of seconds (0: no header)."
  }
}
variable "referrer_policy" {
  default = "strict-origin-when-cross-origin"
  validation {
    condition     = length(regexall("^[a-z-]+$", var.referrer_policy)) > 0
    error_message = "referrer_policy must be a Referrer-Policy token, such as \"no-referrer\"."
  }
}

task "package" "nginx" { name = "nginx" }

task "directory" "tls" {
  path  = "/etc/nginx/tls"
  owner = "root"
  mode  = "0700"
}

task "file" "cert" {
  path    = var.acme_directory_url != "" ? "/etc/nginx/tls/inner.crt" : "/etc/nginx/tls/site.crt"
  content = var.tls_cert_file != "" ? file(var.tls_cert_file) : tls_cert("nginx-${host.name}", [var.domain, host.name], [host.address]).cert
  owner   = "root"
  mode    = "0644"
  notify  = ["reload_nginx"]
}

task "file" "key" {
  path    = var.acme_directory_url != "" ? "/etc/nginx/tls/inner.key" : "/etc/nginx/tls/site.key"
  content = var.tls_key_file != "" ? sensitive(file(var.tls_key_file)) : tls_cert("nginx-${host.name}", [var.domain, host.name], [host.address]).key
  owner   = "root"
  mode    = "0600"
  notify  = ["reload_nginx"]
}

# Before the config that names it: nginx -t needs the file.
task "acme_certificate" "site" {
  when              = var.acme_directory_url != ""
  domain            = var.domain
  directory_url     = var.acme_directory_url
  email             = var.acme_email
  directory_ca_file = var.acme_directory_ca_file
  renew_before      = var.acme_renew_before
  challenge_hosts   = [for h in lookup(groups, "lb", []) : h.name]
  cert_path         = "/etc/nginx/tls/site.crt"
  key_path          = "/etc/nginx/tls/site.key"
  notify            = ["reload_nginx"]
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
