# The demo: nginx with a page rendered per host, on every host.
play "demo" {
  hosts = "all"
  roles = ["demo"]
}
