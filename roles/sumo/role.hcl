# The Sumo Logic installed collector on every host: the package from
# var.sumo_package (a local .deb, pushed over SFTP only when it differs, or
# a URL the host downloads), user.properties with the access id and key
# (0600), and LocalFile sources for the logs of what the host runs.

variable "sumo_package" {}
variable "sumo_url" { default = "https://collectors.sumologic.com" }
variable "sumo_category" { default = "foobar" }

task "directory" "cache" {
  path = "/var/cache/skiff"
  mode = "0755"
}

# A local .deb: uploaded only when its sha256 differs.
task "file" "deb" {
  when   = length(regexall("^https?://", var.sumo_package)) == 0
  path   = "/var/cache/skiff/sumocollector.deb"
  source = abspath(var.sumo_package)
  mode   = "0644"
}

# A URL: downloaded once per URL. The URL reaches this root shell through
# shellquote only.
task "command" "download" {
  when    = length(regexall("^https?://", var.sumo_package)) > 0
  command = "curl -fsSL --retry 3 -o /var/cache/skiff/sumocollector.deb.part ${shellquote(var.sumo_package)} && mv -f /var/cache/skiff/sumocollector.deb.part /var/cache/skiff/sumocollector.deb && printf '%s\\n' ${shellquote(var.sumo_package)} > /var/cache/skiff/sumocollector.url"
  unless  = "[ \"$(cat /var/cache/skiff/sumocollector.url 2>/dev/null)\" = ${shellquote(var.sumo_package)} ]"
}

# Installed unless the .deb's package is installed at the .deb's version.
task "package" "install" {
  deb = "/var/cache/skiff/sumocollector.deb"
}

task "directory" "config" {
  path = "/opt/SumoCollector/config"
  mode = "0755"
}

task "template" "user_properties" {
  source = "user.properties.tftpl"
  path   = "/opt/SumoCollector/config/user.properties"
  owner  = "root"
  mode   = "0600"
  notify = ["restart_collector"]
}

task "template" "sources" {
  source = "sources.json.tftpl"
  path   = "/opt/SumoCollector/config/sources.json"
  mode   = "0644"
  notify = ["restart_collector"]
}

task "service" "collector" {
  name    = "collector"
  state   = "started"
  enabled = true
}

handler "service" "restart_collector" {
  name  = "collector"
  state = "restarted"
}
