# fanout: the small idempotent role of the fan-out benchmark (`make bench`,
# bench/cmd/bench/fanout.go), run on 10, 25 and 50 hosts. Two packages from
# the test image's cached .debs (nginx, and ufw for the rule), two files, a
# service running and one ufw rule. bench/fanout/ansible/fanout.yml is the
# same role written for Ansible; either tool, after the other converged a
# host, finds nothing to change.

# The one address allowed to reach sshd through ufw: the machine the
# benchmark runs on.
variable "ssh_from" {}

task "package" "packages" {
  names = ["nginx", "ufw"]
}

task "file" "nginx_conf" {
  path   = "/etc/nginx/conf.d/fanout.conf"
  source = "fanout.conf"
  owner  = "root"
  group  = "root"
  mode   = "0644"
  notify = ["reload_nginx"]
}

task "file" "page" {
  path   = "/var/www/html/fanout.html"
  source = "fanout.html"
  owner  = "root"
  group  = "root"
  mode   = "0644"
}

task "service" "nginx" {
  name    = "nginx"
  state   = "started"
  enabled = true
}

# ufw's package defaults already deny incoming and allow outgoing traffic;
# the task holds them, allows sshd from ssh_from only, and enables ufw.
task "ufw" "firewall" {
  default_incoming = "deny"
  default_outgoing = "allow"
  rules = [
    { port = 22, proto = "tcp", from = var.ssh_from, comment = "ssh from the bench" },
  ]
}

handler "service" "reload_nginx" {
  name  = "nginx"
  state = "reloaded"
}
