# What an operator writes for a server of their own: a folder, a page, a
# stamp and a log-rotation job for each site, each owned by the site's
# user; sshd and limits hardened, a kernel parameter tuned; a release
# fetched, unpacked and migrated (the migration waits for its database);
# the vendor's apt repository and a package from it; a checkout of the
# operator's tools. The files the role reads from files/ are the vendor's
# key (vendor.asc). A last task fails on demand, to prove the rollback.
#
# Everything is served on the host's loopback: http://127.0.0.1:8088/ has
# the releases, their SHA256SUMS and the vendor's repository (repo/), and
# /srv/git/app.git is the tools' repository.

variable "sites" {
  # site name = the user that owns it
  default = { blog = "ann", shop = "bob" }
}
variable "release" { default = "1.0" }
variable "max_auth_tries" { default = "3" }
variable "nofile" { default = "65536" }
variable "somaxconn" { default = "1024" }
variable "rotate_schedule" { default = "@daily" }
variable "vendor_archs" { default = ["amd64"] }
variable "hello_version" { default = "1.0" }
variable "tools_ref" { default = "v1" }
variable "fail" { default = "no" }

# Sites.

task "user" "owner" {
  for_each = var.sites
  name     = each.value
  shell    = "/bin/sh"
  tags     = ["sites"]
}
task "directory" "sites" {
  path = "/srv/sites"
  tags = ["sites"]
}
task "directory" "site" {
  for_each = var.sites
  path     = "/srv/sites/${each.key}"
  owner    = each.value
  mode     = "0755"
  tags     = ["sites"]
}
task "file" "index" {
  for_each    = var.sites
  path        = "/srv/sites/${each.key}/index.html"
  content     = "<h1>${each.key}</h1>\n<p>release ${var.release}</p>\n"
  become_user = each.value
  tags        = ["sites"]
}
task "command" "stamp" {
  for_each    = var.sites
  command     = "echo \"$(id -un) in $(pwd)\" > deployed.txt"
  chdir       = "/srv/sites/${each.key}"
  creates     = "deployed.txt"
  become_user = each.value
  tags        = ["sites"]
}
task "cron" "rotate" {
  for_each = var.sites
  name     = "rotate-${each.key}"
  user     = each.value
  schedule = var.rotate_schedule
  command  = "find /srv/sites/${each.key} -name '*.log' -mtime +7 -delete"
  tags     = ["sites"]
}

# Hardening and tuning.

task "line_in_file" "sshd" {
  path     = "/etc/ssh/sshd_config"
  regexp   = "^#?MaxAuthTries "
  line     = "MaxAuthTries ${var.max_auth_tries}"
  validate = "/usr/sbin/sshd -t -f %s"
  tags     = ["hardening"]
}
task "block_in_file" "limits" {
  path          = "/etc/security/limits.conf"
  block         = join("", formatlist("%s soft nofile ${var.nofile}\n", values(var.sites)))
  insert_before = "^# End of file"
  tags          = ["hardening"]
}
task "sysctl" "somaxconn" {
  name  = "net.core.somaxconn"
  value = var.somaxconn
  file  = "/etc/sysctl.d/60-sites.conf"
  tags  = ["tuning"]
}

# The release.

task "directory" "dist" {
  path = "/opt/dist"
  tags = ["app"]
}
task "directory" "state" {
  path = "/var/lib/app"
  tags = ["app"]
}
task "download" "app" {
  url          = "http://127.0.0.1:8088/app-${var.release}.tar.gz"
  checksum_url = "http://127.0.0.1:8088/SHA256SUMS"
  path         = "/opt/dist/app-${var.release}.tar.gz"
  mode         = "0640"
  tags         = ["app"]
}
task "unarchive" "app" {
  remote_source    = "/opt/dist/app-${var.release}.tar.gz"
  path             = "/opt/app/current"
  strip_components = 1
  tags             = ["app"]
}
# The migration fails while its database is still starting: tried again.
task "command" "migrate" {
  command = "sh /opt/app/current/bin/migrate ${var.release}"
  creates = "/var/lib/app/migrated-${var.release}"
  retries = 4
  delay   = "1s"
  tags    = ["app"]
}

# The vendor's package.

task "apt_repository" "vendor" {
  name          = "vendor"
  uris          = ["http://127.0.0.1:8088/repo"]
  suites        = ["./"]
  architectures = var.vendor_archs
  key           = "vendor.asc"
  tags          = ["vendor"]
}
task "package" "hello" {
  name    = "skiff-hello"
  version = var.hello_version
  tags    = ["vendor"]
}

# The operator's tools.

task "git" "tools" {
  repo    = "/srv/git/app.git"
  path    = "/opt/tools"
  version = var.tools_ref
  tags    = ["tools"]
}

task "command" "fail" {
  when    = var.fail == "yes"
  command = "echo failing on purpose; exit 3"
}
