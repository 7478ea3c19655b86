# Three files changed, nginx reloaded on them, then (with fail = "yes") a
# task that fails: the rollback test's role.
variable "version" { default = "1" }
variable "fail" { default = "no" }

task "directory" "conf" { path = "/etc/skiff-test" }

task "file" "one" {
  path    = "/etc/skiff-test/one.conf"
  content = "one v${var.version}\n"
}

task "file" "two" {
  path    = "/etc/skiff-test/two.conf"
  content = "two v${var.version}\n"
  mode    = "0600"
}

task "file" "site" {
  path    = "/etc/nginx/sites-available/demo"
  content = <<-EOT
    server {
        listen 80 default_server;
        root /var/www/demo;
        add_header X-Skiff-Version v${var.version} always;
        location / { try_files $uri $uri/ =404; }
    }
  EOT
  notify = ["reload_nginx"]
}

# Puts the new config live at once, before the failure.
task "service" "reload" {
  when  = var.fail == "yes"
  name  = "nginx"
  state = "reloaded"
}

task "file" "broken" {
  when     = var.fail == "yes"
  path     = "/etc/skiff-test/broken.conf"
  content  = "broken\n"
  validate = "false %s"
}

handler "service" "reload_nginx" {
  name  = "nginx"
  state = "reloaded"
}
