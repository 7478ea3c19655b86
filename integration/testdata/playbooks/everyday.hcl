# A server an operator brings: its sites, hardening, its release and its
# vendor's package (see roles/everyday).
play "everyday" {
  hosts = "all"
  roles = [{ name = "everyday", tags = ["everyday"] }]
}
