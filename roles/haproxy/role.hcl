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
# ACME: when set, :80 answers HTTP-01 challenges from the map skiff fills
# (see the nginx role's acme_certificate task), and the health checks ask
# for each web server's own name, which the local CA certifies.
variable "acme_directory_url" { default = "" }

# The health checks' TLS (HAProxy as the client of nginx): the nginx role's
# profile, under the same variable names and defaults, so one inventory
# value sets both ends (nginx picks the curve). No session tickets on this
# side either.
variable "tls_min_version" {
  default = "TLSv1.2"
  validation {
    condition     = contains(["TLSv1.2", "TLSv1.3"], var.tls_min_version)
    error_message = "tls_min_version must be \"TLSv1.2\" or \"TLSv1.3\"."
  }
}
variable "tls_ciphers" {
  default = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
  validation {
    condition     = length(regexall("^[A-Za-z0-9+_:-]+$", var.tls_ciphers)) > 0
    error_message = "tls_ciphers must be an OpenSSL cipher list: names joined by ':'."
  }
}

task "package" "haproxy" { name = "haproxy" }

task "file" "backend_ca" {
  path    = "/etc/haproxy/backend-ca.crt"
  content = var.tls_ca_file != "" ? file(var.tls_ca_file) : (var.tls_cert_file != "" && var.acme_directory_url == "" ? file("/etc/ssl/certs/ca-certificates.crt") : tls_ca_cert())
  mode    = "0644"
  notify  = ["reload_haproxy"]
}

# The HTTP-01 tokens' map: empty on disk; skiff adds a token through the
# runtime API only while the ACME server validates it.
task "file" "acme_challenge_map" {
  when    = var.acme_directory_url != ""
  path    = "/etc/haproxy/acme-challenge.map"
  content = ""
  mode    = "0644"
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
