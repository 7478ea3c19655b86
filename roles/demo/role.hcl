# demo: nginx serving a page rendered per host. The smallest role that uses
# every core task kind; `make demo` and the core integration tests deploy it.

variable "greeting" { default = "Hello from skiff" }
variable "listen_port" { default = 80 }

task "package" "nginx" { name = "nginx" }

task "directory" "docroot" {
  path = "/var/www/demo"
  mode = "0755"
}

task "template" "index" {
  source = "index.html.tftpl"
  path   = "/var/www/demo/index.html"
  mode   = "0644"
}

task "template" "site" {
  source = "site.conf.tftpl"
  path   = "/etc/nginx/sites-available/demo"
  mode   = "0644"
  notify = ["reload_nginx"]
}

task "symlink" "site" {
  path   = "/etc/nginx/sites-enabled/demo"
  target = "/etc/nginx/sites-available/demo"
  notify = ["reload_nginx"]
}

task "file" "default_site" {
  path   = "/etc/nginx/sites-enabled/default"
  state  = "absent"
  notify = ["reload_nginx"]
}

task "service" "nginx" {
  name    = "nginx"
  state   = "started"
  enabled = true
}

# Runs once: `creates` makes it idempotent.
task "command" "stamp" {
  command = "date -u +%FT%TZ > /var/www/demo/deployed-at"
  creates = "/var/www/demo/deployed-at"
}

handler "service" "reload_nginx" {
  name  = "nginx"
  state = "reloaded"
}
