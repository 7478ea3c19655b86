# The app: bin/foobar-app shipped the Capistrano way. Each release lives in
# /opt/foobar/releases/<app_version>/; `current` points at the live one; the
# service restarts only when the release (or its config) changes. The last 5
# releases are kept, so rolling back needs no upload.

# app_version names a folder and reaches root shell commands: a release
# label only (from a CI tag, say), checked before anything runs.
variable "app_version" {
  default = "dev"
  validation {
    condition     = length(regexall("^[A-Za-z0-9][A-Za-z0-9._+-]*$", var.app_version)) > 0
    error_message = "app_version must be a release label: a letter or digit, then letters, digits, '.', '-', '_' or '+'."
  }
}
variable "app_binary" { default = "bin/foobar-app" }
variable "app_port" { default = 8080 }
variable "keep_releases" {
  default = 5
  validation {
    condition     = length(regexall("^[1-9][0-9]*$", var.keep_releases)) > 0
    error_message = "keep_releases must be a whole number of releases, 1 or more."
  }
}

task "group" "foobar" {
  name   = "foobar"
  system = true
}

task "user" "foobar" {
  name        = "foobar"
  group       = "foobar"
  system      = true
  home        = "/opt/foobar"
  shell       = "/usr/sbin/nologin"
  create_home = false
}

task "directory" "release" {
  path = "/opt/foobar/releases/${var.app_version}"
  mode = "0755"
}

task "file" "binary" {
  path   = "/opt/foobar/releases/${var.app_version}/foobar-app"
  source = abspath(var.app_binary)
  mode   = "0755"
}

task "directory" "config" {
  path = "/etc/foobar"
  mode = "0755"
}

# The CA that signed the database servers' certificates: the app talks to
# MySQL over verified TLS.
task "file" "db_ca" {
  path    = "/etc/foobar/db-ca.crt"
  content = tls_ca_cert()
  mode    = "0644"
}

task "template" "env" {
  source = "foobar.env.tftpl"
  path   = "/etc/foobar/foobar.env"
  owner  = "root"
  mode   = "0600" # systemd reads it as root, before dropping to foobar
}

task "directory" "logs" {
  path  = "/var/log/foobar"
  owner = "foobar"
  mode  = "0755"
}

task "template" "unit" {
  source = "foobar-app.service.tftpl"
  path   = "/etc/systemd/system/foobar-app.service"
  mode   = "0644"
}

# The listening socket, held by systemd across the app's restarts (see the
# app's LISTEN_FDS): a restart refuses no connection.
task "template" "socket_unit" {
  source = "foobar-app.socket.tftpl"
  path   = "/etc/systemd/system/foobar-app.socket"
  mode   = "0644"
}

# A host whose app still binds the port itself, or whose socket listens on
# another port: the app stops so that the socket can take the port (it
# starts again below, on the socket). The check is one systemctl call, its
# two properties in either order.
task "command" "listen_socket" {
  command = "systemctl daemon-reload && systemctl stop foobar-app.service && systemctl restart foobar-app.socket"
  unless  = "case \"$(systemctl show -p ActiveState -p Listen foobar-app.socket)\" in ${shellquote("ActiveState=active\nListen=127.0.0.1:${var.app_port} (Stream)")}|${shellquote("Listen=127.0.0.1:${var.app_port} (Stream)\nActiveState=active")}) ;; *) false ;; esac"
}

task "symlink" "current" {
  path   = "/opt/foobar/current"
  target = "/opt/foobar/releases/${var.app_version}"
}

# Restarts only when the release or its config changed (the rolling
# upgrade's drain and checks hang on the same condition).
task "service" "restart" {
  name       = "foobar-app"
  state      = "restarted"
  if_changed = ["file.binary", "file.db_ca", "template.env", "template.unit", "template.socket_unit", "command.listen_socket", "symlink.current"]
}

task "service" "app" {
  name    = "foobar-app"
  state   = "started"
  enabled = true
}

task "service" "socket" {
  name    = "foobar-app.socket"
  state   = "started"
  enabled = true
}

# Keep the newest releases and the live one; idempotent through unless
# (the shell's own glob and count: no program started on a no-op).
# Variables reach this root shell through shellquote only.
task "command" "prune_releases" {
  command = "cd /opt/foobar/releases && ls -1t | grep -vxF -- ${shellquote(var.app_version)} | tail -n +${shellquote(var.keep_releases)} | xargs -r rm -rf --"
  unless  = "set -- /opt/foobar/releases/*; [ $# -le ${shellquote(var.keep_releases)} ]"
}
