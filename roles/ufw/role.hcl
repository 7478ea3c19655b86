# ufw on every host: deny incoming by default, allow outgoing, and open only
# what the design needs. SSH from admin_cidrs only; the rules are added before
# ufw is enabled, so a run never locks itself out.
#   lb hosts:  80 and 443 from anywhere
#   web hosts: nginx's backend port from the lb hosts only
#   db hosts:  3306 from the web hosts, and between primary and replica

variable "admin_cidrs" {}
variable "nginx_port" { default = 8443 }

task "package" "ufw" { name = "ufw" }

task "ufw" "rules" {
  default_incoming = "deny"
  default_outgoing = "allow"
  rules = concat(
    [for c in var.admin_cidrs : { port = 22, proto = "tcp", from = c, comment = "ssh from admins" }],
    [for p in [80, 443] : { port = p, proto = "tcp", from = "any", comment = "web via haproxy" } if contains(host.groups, "lb")],
    [for h in groups.lb : { port = var.nginx_port, proto = "tcp", from = h.address, comment = "nginx from ${h.name}" } if contains(host.groups, "web")],
    [for h in concat(groups.web, [for n in sort([for d in concat(groups.db_primary, groups.db_replica) : d.name]) : hosts[n]]) : { port = 3306, proto = "tcp", from = h.address, comment = "mysql from ${h.name}" }
    if(contains(host.groups, "db_primary") || contains(host.groups, "db_replica")) && h.name != host.name],
  )
}
