# foobar.com production: the seed's hosts. For operators only: CI and the
# tests never plan or apply it (they build their own inventories).
#
#   export FOOBAR_MYSQL_ROOT_PASSWORD=… FOOBAR_MYSQL_REPL_PASSWORD=… FOOBAR_APP_DB_PASSWORD=…
#   export FOOBAR_SUMO_ACCESS_ID=… FOOBAR_SUMO_ACCESS_KEY=…
#   skiff plan -i inventory/production.hcl playbooks/site.hcl

defaults {
  user        = "deploy"
  port        = 22
  private_key = "~/.ssh/id_ed25519"
  known_hosts = "~/.ssh/known_hosts"
  become      = true
  vars = {
    domain       = "www.foobar.com"
    admin_cidrs  = ["203.0.113.0/24"] # the operators' networks: change before the first apply
    app_version  = "1.0.0"
    app_binary   = "bin/foobar-app"
    sumo_package = "https://collectors.sumologic.com/rest/download/deb/64"
    # Certificates from Let's Encrypt (see the README): staging first, then
    # https://acme-v02.api.letsencrypt.org/directory.
    # acme_directory_url = "https://acme-staging-v02.api.letsencrypt.org/directory"
    # acme_email         = "ops@foobar.com"
  }
}

host "web1" {
  address = "8.8.8.8"
  groups  = ["lb", "web"]
}

host "web2" {
  address = "8.8.8.9"
  groups  = ["lb", "web"]
}

host "db1" {
  address = "8.8.8.10"
  groups  = ["db_primary"]
}

host "db2" {
  address = "8.8.8.11"
  groups  = ["db_replica"]
}

secret "mysql_root_password" { env = "FOOBAR_MYSQL_ROOT_PASSWORD" }
secret "mysql_replication_password" { env = "FOOBAR_MYSQL_REPL_PASSWORD" }
secret "app_db_password" { env = "FOOBAR_APP_DB_PASSWORD" }
secret "sumo_access_id" { env = "FOOBAR_SUMO_ACCESS_ID" }
secret "sumo_access_key" { env = "FOOBAR_SUMO_ACCESS_KEY" }
